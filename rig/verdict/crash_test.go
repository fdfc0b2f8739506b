package verdict

import (
	"slices"
	"testing"

	"github.com/mmaprig/mmaprig/internal/symbolize"
)

func TestCrashTrace(t *testing.T) {
	stack := []string{"m_mmap+0xa/0x17 [m]", "mmap_region+0x300/0x532"}
	decoded := []symbolize.Frame{
		{Function: "m_mmap", Offset: 0xa, Size: 0x17, Module: "m", Reliable: true, Lines: []symbolize.Location{{Function: "m_mmap", File: "m.c", Line: 27}}},
		{Function: "mmap_region", Offset: 0x300, Size: 0x532, Reliable: true},
	}
	for _, tc := range []struct {
		name  string
		crash Crash
		want  []string
	}{
		{"as printed", Crash{Stack: stack}, stack},
		{"decoded", Crash{Stack: stack, Decoded: decoded}, []string{"m_mmap+0xa/0x17 m.c:27 [m]", "mmap_region+0x300/0x532"}},
		{"none", Crash{}, nil},
	} {
		if got := tc.crash.Trace(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q; want %q", tc.name, got, tc.want)
		}
	}
}
