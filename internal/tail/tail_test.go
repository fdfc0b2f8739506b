package tail

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLines(t *testing.T) {
	abc := []string{"a", "b", "c"}
	for _, tc := range []struct {
		n    int
		want []string
	}{{0, []string{}}, {1, []string{"c"}}, {2, []string{"b", "c"}}, {3, abc}, {9, abc}, {-1, []string{}}} {
		if got := Lines(abc, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("Lines(abc, %d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
		left int
	}{
		{"", 3, "", 0},
		{"\n\n", 3, "", 0},
		{"a\nb\nc\n", 2, "b\nc", 1},
		{"a\nb\nc", 5, "a\nb\nc", 0},
		{"a\n\nc\n", 2, "\nc", 1},
	} {
		got, left := Text(tc.s, tc.n)
		if got != tc.want || left != tc.left {
			t.Errorf("Text(%q, %d) = %q, %d; want %q, %d", tc.s, tc.n, got, left, tc.want, tc.left)
		}
	}
}

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := File(p, 2); got != "two\nthree" {
		t.Errorf("File = %q", got)
	}
	if got := File(p+".missing", 2); got != "" {
		t.Errorf("File of a missing file = %q", got)
	}
}
