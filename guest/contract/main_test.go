package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// The rig selects cases by the names wire lists before the guest boots:
// they must be the contract's, in its order.
func TestCaseNames(t *testing.T) {
	var names []string
	for _, ch := range checks {
		names = append(names, ch.name)
	}
	if !slices.Equal(names, wire.ContractCases) {
		t.Errorf("the contract's cases are %q; wire.ContractCases says %q", names, wire.ContractCases)
	}
}

// -run selects as go test -run does: a match anywhere in the name.
func TestSelectChecks(t *testing.T) {
	for _, tc := range []struct {
		run  string
		want []string
		err  string
	}{
		{run: "", want: wire.ContractCases},
		{run: "refuses|Seed", want: []string{"refuses_bad_maps"}},
		{run: "^(reader_output|kernel_clean)$", want: []string{"reader_output", "kernel_clean"}},
		{run: "refuses/sub", want: []string{"refuses_bad_maps"}},
		{run: "nothing", err: `-run "nothing" matches no case; the cases are reader_output, refuses_bad_maps`},
		{run: "(", err: "bad -run"},
	} {
		got, err := selectChecks(tc.run)
		var names []string
		for _, ch := range got {
			names = append(names, ch.name)
		}
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("selectChecks(%q) = %q, %v; want an error with %q", tc.run, names, err, tc.err)
		case tc.err == "" && (err != nil || !slices.Equal(names, tc.want)):
			t.Errorf("selectChecks(%q) = %q, %v; want %q", tc.run, names, err, tc.want)
		}
	}
}
