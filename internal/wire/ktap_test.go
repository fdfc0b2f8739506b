package wire

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriteParseKTAP(t *testing.T) {
	var b bytes.Buffer
	w := NewKTAPWriter(&b, 3)
	w.Start("first")
	w.Result("first", Pass, "")
	w.Start("second")
	w.Diag("line one\nline two")
	w.Result("second", Fail, "")
	w.Start("third")
	w.TimedResult("third", Skip, "no read()", 1500*time.Microsecond)
	doc, err := ParseKTAP(&b)
	if err != nil {
		t.Fatalf("ParseKTAP(%q): %v", b.String(), err)
	}
	if doc.Version != 1 || doc.Plan != 3 || len(doc.Cases) != 3 {
		t.Fatalf("doc = %+v", doc)
	}
	want := []Case{
		{Number: 1, Name: "first", Result: Pass},
		{Number: 2, Name: "second", Result: Fail, Diagnostics: []string{"line one", "line two"}},
		{Number: 3, Name: "third", Result: Skip, Reason: "no read()", Time: 1500 * time.Microsecond},
	}
	for i, c := range doc.Cases {
		w := want[i]
		if c.Number != w.Number || c.Name != w.Name || c.Result != w.Result || c.Reason != w.Reason || c.Time != w.Time ||
			strings.Join(c.Diagnostics, "|") != strings.Join(w.Diagnostics, "|") {
			t.Errorf("case %d = %+v, want %+v", i+1, c, w)
		}
	}
}

// CaseStart reads the line Start writes, and nothing else.
func TestCaseStart(t *testing.T) {
	for _, tc := range []struct {
		line, name string
		ok         bool
	}{
		{"# case start unload_reload", "unload_reload", true},
		{"# case start unload_reload\r", "unload_reload", true},
		{"# case start ", "", false},
		{"# case started x", "", false},
		{"ok 1 unload_reload", "", false},
		{"#case start x", "", false},
	} {
		name, ok := CaseStart(tc.line)
		if name != tc.name || ok != tc.ok {
			t.Errorf("CaseStart(%q) = %q, %v; want %q, %v", tc.line, name, ok, tc.name, tc.ok)
		}
	}
	var b bytes.Buffer
	NewKTAPWriter(&b, 1).Start("x")
	if name, ok := CaseStart(strings.Split(b.String(), "\n")[2]); !ok || name != "x" {
		t.Errorf("Start wrote %q", b.String())
	}
}

// Output cut short must never parse as a pass.
func TestParseRejects(t *testing.T) {
	for name, text := range map[string]string{
		"empty":        "",
		"no version":   "1..1\nok 1 a\n",
		"no plan":      "KTAP version 1\nok 1 a\n",
		"cut short":    "KTAP version 1\n1..3\nok 1 a\nok 2 b\n",
		"out of order": "KTAP version 1\n1..2\nok 2 b\nok 1 a\n",
	} {
		if _, err := ParseKTAP(strings.NewReader(text)); err == nil {
			t.Errorf("%s: Parse succeeded", name)
		}
	}
}

func TestParseKernelStyle(t *testing.T) {
	// Lines as the kernel's own KTAP producers write them.
	doc, err := ParseKTAP(strings.NewReader("TAP version 14\n1..2\n# Subtest: x\nok 1 - test_a\nnot ok 2 - test_b # TIMEOUT\n"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Cases[0].Name != "test_a" || doc.Cases[1].Result != Fail || doc.Cases[1].Name != "test_b" {
		t.Errorf("cases = %+v", doc.Cases)
	}
}

func TestSkipHeadline(t *testing.T) {
	for reason, want := range map[string]string{
		"no write(): the driver has no write() (write() of 1 byte at offset 0 returned EINVAL (invalid argument))": "no write()",
		"no read() or write(): the driver has no read() and no write() (...)":                                      "no read() or write()",
		"no read()":                         "no read()",
		"  needs a second CPU  ":            "needs a second CPU",
		"main_test.go:12: needs /dev/foo":   "needs /dev/foo",
		"dir/x_test.go:7: wants: a network": "wants",
		"":                                  "no reason given",
		": odd":                             ": odd",
		strings.Repeat("a", 70):             strings.Repeat("a", 59) + "…",
	} {
		if got := SkipHeadline(reason); got != want {
			t.Errorf("SkipHeadline(%q) = %q, want %q", reason, got, want)
		}
	}
}

// A skip's reason, with its headline, survives the KTAP round trip.
func TestSkipReasonRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewKTAPWriter(&b, 1)
	const reason = "no write(): the driver has no write() (write() of 1 byte at offset 0 returned EINVAL (invalid argument)); read() agrees with the mapping"
	w.Result("user_kernel_agree", Skip, reason)
	doc, err := ParseKTAP(&b)
	if err != nil {
		t.Fatal(err)
	}
	if c := doc.Cases[0]; c.Result != Skip || c.Reason != reason || SkipHeadline(c.Reason) != "no write()" {
		t.Errorf("case %+v", c)
	}
}

// A result line read as it comes: passed, failed, skipped with its
// reason; anything else is no result.
func TestResultLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Case
		ok   bool
	}{
		{"ok 1 reader_output", Case{Number: 1, Name: "reader_output", Result: Pass}, true},
		{"not ok 2 shared_coherence\r", Case{Number: 2, Name: "shared_coherence", Result: Fail}, true},
		{"ok 3 unload_reload # SKIP no module", Case{Number: 3, Name: "unload_reload", Result: Skip, Reason: "no module"}, true},
		{"# case start kernel_clean", Case{}, false},
		{"1..7", Case{}, false},
	} {
		got, ok := ResultLine(tc.line)
		if ok != tc.ok || got.Number != tc.want.Number || got.Name != tc.want.Name || got.Result != tc.want.Result || got.Reason != tc.want.Reason {
			t.Errorf("ResultLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
