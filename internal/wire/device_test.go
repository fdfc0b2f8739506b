package wire

import (
	"strings"
	"testing"
)

// Each -device form reads into its Device and renders back to the same
// spec; a malformed one says what the forms are.
func TestParseDevice(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Device
		err  string
	}{
		{spec: "/dev/mymap", want: Device{Path: "/dev/mymap"}},
		{spec: "/dev/scull0=c:scull:0", want: Device{Path: "/dev/scull0", Driver: "scull"}},
		{spec: "/dev/scull1=c:scull:1", want: Device{Path: "/dev/scull1", Driver: "scull", Minor: 1}},
		{spec: "/dev/null=existing", want: Device{Path: "/dev/null", Existing: true}},
		{spec: "mymap", err: "clean absolute path"},
		{spec: "/dev/../dev/mymap", err: "clean absolute path"},
		{spec: "/dev/my map", err: "no ':', ',', '=' or spaces"},
		{spec: "/dev/x=b:sd:0", err: "after '=' want c:DRIVER:MINOR"},
		{spec: "/dev/x=c::0", err: "after '=' want c:DRIVER:MINOR"},
		{spec: "/dev/x=c:scull", err: "after '=' want c:DRIVER:MINOR"},
		{spec: "/dev/x=c:scull:-1", err: `minor "-1" is not a number`},
		{spec: "/dev/x=c:scull:1048576", err: `minor "1048576" is not a number from 0 to 1048575`},
		{spec: "/dev/x=old", err: "or existing"},
	} {
		got, err := ParseDevice(tc.spec)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseDevice(%q) = %+v, %v; want an error with %q", tc.spec, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseDevice(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		case tc.err == "" && got.String() != tc.spec:
			t.Errorf("ParseDevice(%q).String() = %q", tc.spec, got.String())
		}
	}
	if _, err := ParseDevices([]string{"/dev/a", "/dev/b=c:b:0", "/dev/a=existing"}); err == nil || err.Error() != "/dev/a is named twice" {
		t.Errorf("ParseDevices with a node twice: %v", err)
	}
}

// -expect's forms: decimal, hex, and quoted text.
func TestParseExpect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  string
	}{
		{in: "0,1,2", want: "\x00\x01\x02"},
		{in: " 7, 8", want: "\x07\x08"},
		{in: "0x00010203040506070809", want: "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"},
		{in: "0XfF", want: "\xff"},
		{in: "'asdf'", want: "asdf"},
		{in: "'a,b \\n'", want: "a,b \\n"},
		{in: `"a\x00b\n"`, want: "a\x00b\n"},
		{in: "0x", err: "after 0x want hex digits"},
		{in: "0x123", err: "after 0x want hex digits"},
		{in: "0x00,0x01", err: "no separators"},
		{in: "''", err: "no bytes"},
		{in: `"unterminated`, err: "not a Go string literal"},
		{in: "asdf", err: `"asdf": "asdf" is not a byte (0-255) (or give hex`},
		{in: "1,2,300", err: `"300" is not a byte (0-255)`},
	} {
		got, err := ParseExpect(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseExpect(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || string(got) != tc.want):
			t.Errorf("ParseExpect(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// -run's top level is what go test -run matches test names with.
func TestRunTopLevel(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		"refuses|Seed":   "refuses|Seed",
		"TestA/sub":      "TestA",
		"(a/b)|c/d":      "(a/b)|c",
		"[/]x/y":         "[/]x",
		`a\/b/c`:         `a\/b`,
		"/only-subtests": "",
	} {
		if got := RunTopLevel(in); got != want {
			t.Errorf("RunTopLevel(%q) = %q; want %q", in, got, want)
		}
	}
}
