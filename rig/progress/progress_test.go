package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0ms"},
		{999 * time.Millisecond, "999ms"},
		{time.Second, "1.00s"},
		{2346 * time.Millisecond, "2.35s"},
		{59*time.Second + 990*time.Millisecond, "59.99s"},
		{time.Minute, "1m0s"},
		{10*time.Minute + 29*time.Second + 600*time.Millisecond, "10m30s"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q; want %q", tc.d, got, tc.want)
		}
	}
}

// A stage's line names it, times it and sums it up; a prefixed printer's
// lines carry its prefix, so that concurrent runs' lines stay apart.
func TestStageLines(t *testing.T) {
	var b bytes.Buffer
	p := NewPrinter(&b)
	p.Start("kernel").Done("cached")
	p.WithPrefix("[6.1] ").Printf("booting")
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "  kernel ") || !strings.HasSuffix(lines[0], "ms  cached") || lines[1] != "[6.1] booting" {
		t.Errorf("printed %q", lines)
	}
}
