package wire

import (
	"slices"
	"strings"
	"testing"
)

// A request is decoded as strictly as an event: a rig and an init that
// disagree on the wire say so instead of dropping a field.
func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		line, err string
	}{
		{`{"power_off":true}`, ""},
		{`{"work":{"nonce":"n","config":{"channel":"serial","devices":[{"path":"/dev/x"},{"path":"/dev/s0","driver":"scull","minor":1}],"modules":["/mmaprig/module.ko"],"load_timeout_ms":1,"device_timeout_ms":1,"programs":null,"unload":true,"unload_timeout_ms":1}}}`, ""},
		// A rig from before several devices.
		{`{"work":{"nonce":"n","config":{"channel":"serial","device":"/dev/x","modules":["/mmaprig/module.ko"]}}}`, `not a request: json: unknown field "device"`},
		{`{"work":{"nonce":"n","config":{"devices":[{"path":"/dev/x","major":3}],"modules":["/mmaprig/module.ko"]}}}`, `not a request: json: unknown field "major"`},
		{`{"work":{"nonce":"n","module":"AAAA","config":{"modules":["/mmaprig/module.ko"]}}}`, `not a request: json: unknown field "module"`},
		{`{"work":{"nonce":"n","config":{"channel":"serial"}}}`, "not a request: its work names no module to load"},
		{`{"settle":true} {}`, "not a request: trailing data after the JSON object"},
	} {
		_, err := DecodeRequest([]byte(tc.line))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("%s: error %q; want %q", tc.line, got, tc.err)
		}
	}
}

func TestModulePaths(t *testing.T) {
	for _, tc := range []struct{ files, want []string }{
		{[]string{"/cache/m/x.ko"}, []string{ModulePath}},
		{[]string{"/c/sub/core.ko", "/c/dev.ko"}, []string{DepsDir + "/core.ko", ModulePath}},
		{nil, []string{}},
	} {
		if got := ModulePaths(tc.files); !slices.Equal(got, tc.want) || strings.Contains(strings.Join(got, ""), "/c/") {
			t.Errorf("%q: %q, want %q", tc.files, got, tc.want)
		}
	}
}
