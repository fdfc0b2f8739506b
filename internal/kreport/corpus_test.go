package kreport

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected results in testdata/reports from what Parse returns")

// A corpus file (testdata/reports/*.txt) is a console and what Parse must
// make of it. It starts with a header: comment lines ("# ..." saying where
// the console comes from), then either "NO REPORT" or the fields below, then
// a blank line, then the console text as the rig saw it.
//
//	TITLE: the report's final title
//	KIND: its Kind
//	FRAME: the guilty frame, or nothing
//	HEADER: the provisional title that Match gives for the header line
//	LINE: the 1-based line number of the header in the console text
//	PANIC: true, for panics only
type corpusFile struct {
	comments []string
	want     *Report // nil: no report
	console  []string
}

func readCorpus(t *testing.T, path string) corpusFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, console, ok := strings.Cut(string(b), "\n\n")
	if !ok {
		t.Fatalf("%s: no blank line after the header", path)
	}
	var f corpusFile
	f.console = strings.Split(strings.TrimSuffix(console, "\n"), "\n")
	for _, line := range strings.Split(head, "\n") {
		if strings.HasPrefix(line, "#") {
			f.comments = append(f.comments, line)
			continue
		}
		if line == "NO REPORT" {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s: bad header line %q", path, line)
		}
		if f.want == nil {
			f.want = &Report{}
		}
		val = strings.TrimSpace(val)
		switch key {
		case "TITLE":
			f.want.Title = val
		case "KIND":
			f.want.Kind = val
		case "FRAME":
			f.want.Frame = val
		case "HEADER":
			f.want.Header.Title = val
		case "LINE":
			n, err := strconv.Atoi(val)
			if err != nil {
				t.Fatalf("%s: LINE: %v", path, err)
			}
			f.want.Start = n - 1
		case "PANIC":
			f.want.Panic = val == "true"
		default:
			t.Fatalf("%s: unknown header field %q", path, key)
		}
	}
	return f
}

// format returns the file's text with got as its expected result.
func (f corpusFile) format(got *Report) string {
	var b strings.Builder
	for _, c := range f.comments {
		fmt.Fprintln(&b, c)
	}
	if got == nil {
		fmt.Fprintln(&b, "NO REPORT")
	} else {
		fmt.Fprintf(&b, "TITLE: %s\nKIND: %s\nFRAME: %s\nHEADER: %s\nLINE: %d\n",
			got.Title, got.Kind, got.Frame, got.Header.Title, got.Start+1)
		if got.Panic {
			fmt.Fprintln(&b, "PANIC: true")
		}
	}
	fmt.Fprintln(&b)
	for _, line := range f.console {
		fmt.Fprintln(&b, line)
	}
	return b.String()
}

func TestCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "reports", "*.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			f := readCorpus(t, path)
			rep, ok := Parse(f.console)
			var got *Report
			if ok {
				got = &rep
			}
			if *update {
				if err := os.WriteFile(path, []byte(f.format(got)), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			switch {
			case got == nil && f.want != nil:
				t.Fatalf("Parse found no report; want %q", f.want.Title)
			case got != nil && f.want == nil:
				t.Fatalf("Parse found %q at line %d; want no report", got.Title, got.Start+1)
			case got != nil && !sameReport(*got, *f.want):
				t.Errorf("Parse =\n%s\nwant\n%s", f.format(got), f.format(f.want))
			}
			checkMatch(t, f.console, got)
		})
	}
}

// sameReport compares reports but for their header texts, stacks and
// traps, which the corpus files do not record (TestParseInterleaved and
// TestParseTrap check them).
func sameReport(a, b Report) bool {
	a.Stack, b.Stack, a.Text, b.Text, a.Trap, b.Trap = nil, nil, "", "", "", ""
	return reflect.DeepEqual(a, b)
}

// checkMatch checks that Match agrees with Parse line by line: no line
// before the report's header matches, and the header's does, with the
// same Header.
func checkMatch(t *testing.T, console []string, rep *Report) {
	t.Helper()
	end := len(console)
	if rep != nil {
		end = rep.Start
		h, ok := Match(console[rep.Start])
		if !ok || h != rep.Header {
			t.Errorf("Match(header line %d) = %+v, %v; want %+v", rep.Start+1, h, ok, rep.Header)
		}
	}
	for i, line := range console[:end] {
		if h, ok := Match(line); ok {
			t.Errorf("Match(line %d %q) = %+v before the first report", i+1, line, h)
		}
	}
}
