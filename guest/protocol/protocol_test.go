package protocol

import (
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := Event{Name: EvRun, OK: true, Cmd: "reader", Exit: 0, Stdout: []string{"0", "1"}, Stderr: "x\ny", MS: 12}
	line := Format(in)
	out, ok := Parse(line)
	if !ok {
		t.Fatalf("Parse(%q) failed", line)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		name string
	}{
		{`@mmaprig@ end {"ok":true,"exit":0,"ms":0}`, true, "end"},
		{`@mmaprig@ end {"ok":true,"exit":0,"ms":0}` + "\r", true, "end"},
		// printk does not wait for a line end; the marker may follow kernel text.
		{`[    1.2] random: crng init@mmaprig@ insmod {"ok":false,"err":"x","exit":0,"ms":1}`, true, "insmod"},
		{`[    0.7] Run /init as init process`, false, ""},
		{`@mmaprig@ end`, false, ""},
		{`@mmaprig@ end {"ok":tr`, false, ""}, // cut off by a power off
		{`@mmaprig@  {"ok":true}`, false, ""},
	} {
		e, ok := Parse(tc.line)
		if ok != tc.ok || e.Name != tc.name {
			t.Errorf("Parse(%q) = %q, %v; want %q, %v", tc.line, e.Name, ok, tc.name, tc.ok)
		}
	}
}
