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
	w.Result("first", Pass, "")
	w.Diag("line one\nline two")
	w.Result("second", Fail, "")
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
