package wire

import (
	"slices"
	"strings"
	"testing"
)

// Split returns each line once, when its newline comes; a line that never
// ends comes in pieces; nothing past MaxOutput comes at all.
func TestLineSplitter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		want   [][]string
	}{
		{"whole lines", []string{"ok 1 a\n# case start b\n"}, [][]string{{"ok 1 a", "# case start b"}}},
		{"a line in pieces", []string{"=== RU", "N   TestX\n--- PA", "SS: TestX (0.00s)\n"},
			[][]string{nil, {"=== RUN   TestX"}, {"--- PASS: TestX (0.00s)"}}},
		{"empty lines", []string{"\n\nx\n"}, [][]string{{"", "", "x"}}},
		{"no newline yet", []string{"partial"}, [][]string{nil}},
		{"a line that never ends", []string{strings.Repeat("x", MaxPartialLine), "y\n"},
			[][]string{{strings.Repeat("x", MaxPartialLine)}, {"y"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l LineSplitter
			for i, c := range tc.chunks {
				if got := l.Split([]byte(c)); !slices.Equal(got, tc.want[i]) {
					t.Errorf("chunk %d: %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
	var l LineSplitter
	line := []byte(strings.Repeat("z", 1023) + "\n")
	n := 0
	for range 2 * MaxOutput / len(line) {
		n += len(l.Split(line))
	}
	if n != MaxOutput/len(line) {
		t.Errorf("%d lines of 1 KiB passed the cap, want %d", n, MaxOutput/len(line))
	}
}
