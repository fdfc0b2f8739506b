package wire

import "testing"

func TestTaintLetters(t *testing.T) {
	for _, tc := range []struct {
		mask uint64
		want string
	}{
		{0, ""},
		{512, "W"},
		{128 | 512, "DW"},
		{4096 | 8192, "OE"},
		{1 << 40, "[bit 40]"},
	} {
		if got := TaintLetters(tc.mask); got != tc.want {
			t.Errorf("TaintLetters(%d) = %q; want %q", tc.mask, got, tc.want)
		}
	}
	if got, want := DescribeTaint(32|16384), "B (a bad page was referenced, or a page was freed badly), L (a soft lockup)"; got != want {
		t.Errorf("DescribeTaint = %q; want %q", got, want)
	}
	if BadTaint&(4096|8192|1) != 0 {
		t.Error("BadTaint holds O, E or P, which loading a test module sets")
	}
}
