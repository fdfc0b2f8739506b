package runner

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// contract is a passing contract's cases, with the skips given.
func contract(skips map[string]string) []wire.Case {
	var cases []wire.Case
	for i, name := range []string{"reader_output", "refuses_bad_maps", "shared_coherence", "user_kernel_agree",
		"concurrent_mappers", "unload_reload", "kernel_clean"} {
		c := wire.Case{Number: i + 1, Name: name, Result: wire.Pass, Suite: wire.CmdContract}
		if why, ok := skips[name]; ok {
			c.Result, c.Reason = wire.Skip, why
		}
		cases = append(cases, c)
	}
	return cases
}

func TestCaseCount(t *testing.T) {
	for _, tc := range []struct {
		cases []wire.Case
		want  string
	}{
		{contract(nil), "7 cases"},
		{contract(map[string]string{"user_kernel_agree": "no write(): the driver has no write() (write() of 1 byte at offset 0 returned EINVAL (invalid argument)); read() agrees with the mapping"}),
			"7 cases, 1 skipped: user_kernel_agree (no write())"},
		{contract(map[string]string{"user_kernel_agree": "no read() or write(): the driver has no read() and no write() (...)", "kernel_clean": "x_test.go:3: no log"}),
			"7 cases, 2 skipped: user_kernel_agree (no read() or write()), kernel_clean (no log)"},
		{[]wire.Case{{Name: "only", Result: wire.Skip}}, "1 case, 1 skipped: only (no reason given)"},
		{nil, "0 cases"},
	} {
		if got := CaseCount(tc.cases); got != tc.want {
			t.Errorf("CaseCount = %q, want %q", got, tc.want)
		}
	}
}

// A reader of -json sees how many cases were skipped and why, without
// going through the cases; a run with no skip says 0.
func TestReportSkips(t *testing.T) {
	const why = "no write(): the driver has no write() (write() of 1 byte at offset 0 returned EINVAL (invalid argument)); read() agrees with the mapping"
	for _, tc := range []struct {
		cases []wire.Case
		want  string
	}{
		{contract(nil), `"skipped_count": 0`},
		{contract(map[string]string{"user_kernel_agree": why}), `"skipped_count": 1,
  "skipped_cases": [
    {
      "suite": "contract",
      "name": "user_kernel_agree",
      "why": "no write()",
      "reason": "` + why + `"
    }
  ]`},
	} {
		b, err := json.MarshalIndent(Result{Class: verdict.Pass, Cases: tc.cases}.Report(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("the report lacks %s:\n%s", tc.want, b)
		}
		if tc.cases[3].Result == wire.Pass && strings.Contains(string(b), "skipped_cases") {
			t.Errorf("a run with no skip lists skipped cases:\n%s", b)
		}
	}
}
