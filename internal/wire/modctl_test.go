package wire

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

// What the rig builds, modctl reads back as the same command.
func TestModctlRoundTrip(t *testing.T) {
	for _, m := range []Modctl{
		{Verb: ModctlLoad, Path: ModulePath, Timeout: 20 * time.Second, Params: "size=4 debug=1"},
		{Verb: ModctlLoad, Path: ModulePath, Timeout: 20 * time.Second},
		{Verb: ModctlUnload, Path: ModulePath, Timeout: 10 * time.Second},
		{Verb: ModctlWait, Devices: []string{"/dev/mymap"}, Timeout: 2 * time.Second},
		{Verb: ModctlWait, Devices: []string{"/dev/scull0=c:scull:0", "/dev/null=existing"}, Timeout: 2 * time.Second},
		{Verb: ModctlRun, Timeout: 1500 * time.Millisecond, Command: []string{"reader", "-dev", "/dev/mymap", "-n", "10"}},
		{Verb: ModctlGcov, Path: GcovDir},
		{Verb: ModctlSections, Names: []string{"dep", "mymap"}},
	} {
		args := m.Args()
		if args[0] != CmdModctl || args[1] != m.Verb {
			t.Errorf("%+v: args %q do not start with modctl %s", m, args, m.Verb)
		}
		got, err := ParseModctl(args[1:])
		if err != nil {
			t.Errorf("ParseModctl(%q): %v", args[1:], err)
			continue
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("ParseModctl(%q) = %+v; want %+v", args[1:], got, m)
		}
	}
}

// Arguments modctl does not know are a usage error, never a guess.
func TestModctlBadUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"load"},
		{"load", ModulePath},
		{"load", ModulePath, "20s", "a=1", "extra"},
		{"load", ModulePath, "soon"},
		{"wait", "/dev/mymap"},
		{"wait", "2s"},
		{"wait", "/dev/mymap", "2s"},
		{"run", "5s"},
		{"run", "-1s", "reader"},
		{"gcov"},
		{"gcov", GcovDir, "more"},
		{"sections"},
		{"insmod", ModulePath, "20s"},
	} {
		if m, err := ParseModctl(args); !errors.Is(err, ErrModctlUsage) {
			t.Errorf("ParseModctl(%q) = %+v, %v; want a usage error", args, m, err)
		}
	}
}

// A guest program finds the module, its parameters, its first device and
// all of them in its environment, whichever channel ran it, and its own
// variables after them.
func TestProgramEnv(t *testing.T) {
	cfg := Config{Devices: []Device{{Path: "/dev/scull0", Driver: "scull"}, {Path: "/dev/scull1", Driver: "scull", Minor: 1}}, Params: "size=4"}
	got := cfg.ProgramEnv(Program{Argv: []string{"probe"}, Env: []string{"PROBE_DEPTH=2"}})
	want := []string{EnvDevice + "=/dev/scull0", EnvDevices + "=/dev/scull0:/dev/scull1", EnvModule + "=" + ModulePath, EnvParams + "=size=4", "PROBE_DEPTH=2"}
	if !slices.Equal(got, want) {
		t.Errorf("ProgramEnv = %q; want %q", got, want)
	}
}
