package verdict

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the corpus files' CLASS, TITLE and STEP headers from the engine's verdicts")

// corpusDir holds recordings of runs, each with the verdict it must get:
// real runs' engine.log files, and streams made by hand from them for the
// cases a real guest rarely shows (a lost event, a forged one, a split
// line).
const corpusDir = "testdata/corpus"

// expected are the headers a corpus file states its verdict in.
var expected = []string{"CLASS", "TITLE", "STEP"}

func TestCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Errorf("the corpus has %d cases; keep at least 25", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".log"), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := ParseRecording(f)
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			got := rec.Replay()
			gotHeaders := map[string]string{"CLASS": string(got.Class), "TITLE": got.Title, "STEP": got.Step}
			if *update {
				if err := rewriteHeaders(path, gotHeaders); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, k := range expected {
				if want, ok := rec.Headers[k]; !ok || want != gotHeaders[k] {
					t.Errorf("%s: %s = %q, want %q (message: %s)", path, k, gotHeaders[k], want, got.Msg)
				}
			}
			checkContext(t, rec, got)
			if got.Class != Pass && got.Msg == "" {
				t.Errorf("%s: a %s verdict without a message", path, got.Class)
			}
		})
	}
}

// checkContext checks the optional headers that keep a failure's
// context: SAYS, what the verdict's message says, and CASES, the cases
// and their results ("name result, ...").
func checkContext(t *testing.T, rec *Recording, got Result) {
	t.Helper()
	if says, ok := rec.Headers["SAYS"]; ok && !strings.Contains(got.Msg, says) {
		t.Errorf("the message %q does not say %q", got.Msg, says)
	}
	if want, ok := rec.Headers["CASES"]; ok {
		if cases := CaseList(got.Cases); cases != want {
			t.Errorf("cases %q, want %q", cases, want)
		}
	}
}

// BenchmarkCorpus replays the whole corpus once per iteration: it must
// stay well under a second (make bench reports it).
func BenchmarkCorpus(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.log"))
	var recs []*Recording
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rec, err := ParseRecording(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
	}
	b.ResetTimer()
	for range b.N {
		for _, rec := range recs {
			rec.Replay()
		}
	}
	b.ReportMetric(float64(len(recs)), "recordings")
}

// rewriteHeaders replaces the expected-verdict headers of a corpus file,
// keeping its comments, its spec and its inputs.
func rewriteHeaders(path string, h map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var comments, rest []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		key, _, _ := strings.Cut(line, ":")
		switch {
		case strings.HasPrefix(line, "#") && rest == nil:
			comments = append(comments, line)
		case slices.Contains(expected, key):
		default:
			rest = append(rest, line)
		}
	}
	var out []string
	out = append(out, comments...)
	for _, k := range expected {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s: %s", k, h[k])))
	}
	out = append(out, rest...)
	return os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}
