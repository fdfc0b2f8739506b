package modinfo

import (
	"slices"
	"testing"
)

func TestLoadOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		mods []Node
		want []int
		err  string
	}{
		{"one", []Node{{Name: "a"}}, []int{0}, ""},
		{"given order kept", []Node{{Name: "a"}, {Name: "b"}, {Name: "c"}}, []int{0, 1, 2}, ""},
		{"user before its provider", []Node{{Name: "user", Depends: []string{"base"}}, {Name: "base"}}, []int{1, 0}, ""},
		{"chain", []Node{{Name: "c", Depends: []string{"b"}}, {Name: "b", Depends: []string{"a"}}, {Name: "a"}}, []int{2, 1, 0}, ""},
		{"diamond", []Node{{Name: "top", Depends: []string{"l", "r"}}, {Name: "r", Depends: []string{"base"}}, {Name: "l", Depends: []string{"base"}}, {Name: "base"}},
			[]int{3, 1, 2, 0}, ""},
		{"missing", []Node{{Name: "user", Depends: []string{"gone"}}}, nil,
			"module user depends on gone, which the build did not make (and the guest kernel has no modules of its own)"},
		{"cycle", []Node{{Name: "x"}, {Name: "a", Depends: []string{"b"}}, {Name: "b", Depends: []string{"c"}}, {Name: "c", Depends: []string{"a"}}}, nil,
			"the modules depend on each other in a cycle: a -> b -> c -> a"},
		{"self", []Node{{Name: "a", Depends: []string{"a"}}}, nil, "the modules depend on each other in a cycle: a -> a"},
		{"duplicate", []Node{{Name: "a"}, {Name: "a"}}, nil, "two modules are named a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadOrder(tc.mods)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("order %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDepends(t *testing.T) {
	for _, tc := range []struct {
		info Info
		want []string
	}{
		{Info{"depends": {""}}, nil},
		{Info{}, nil},
		{Info{"depends": {"a,b"}}, []string{"a", "b"}},
		{Info{"depends": {"a", "b,a"}}, []string{"a", "b"}},
	} {
		if got := tc.info.Depends(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.info, got, tc.want)
		}
	}
}
