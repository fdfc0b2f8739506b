package kernel

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseFragment(t *testing.T) {
	f, err := ParseFragment("t", strings.NewReader("# comment\n\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\nCONFIG_D=42\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Symbol{{"CONFIG_A", "y", 3}, {"CONFIG_B", "n", 4}, {"CONFIG_C", `"x y"`, 5}, {"CONFIG_D", "42", 6}}
	if len(f.Symbols) != len(want) {
		t.Fatalf("got %d symbols, want %d: %+v", len(f.Symbols), len(want), f.Symbols)
	}
	for i, s := range f.Symbols {
		if s != want[i] {
			t.Errorf("symbol %d = %+v, want %+v", i, s, want[i])
		}
	}
}

func TestFragmentDirectives(t *testing.T) {
	f, err := ParseFragment("d", strings.NewReader("# mmaprig-cmdline: panic_on_warn=1 a=b\n# mmaprig-mem: 512\nCONFIG_A=y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.Cmdline, " ") != "panic_on_warn=1 a=b" || f.MemMB != 512 {
		t.Errorf("directives = %q, %d MiB", f.Cmdline, f.MemMB)
	}
	if _, err := ParseFragment("d", strings.NewReader("# mmaprig-mem: lots\n")); err == nil {
		t.Error("a bad mmaprig-mem was accepted")
	}
}

func TestParseFragmentErrors(t *testing.T) {
	for _, text := range []string{
		"CONFIG_A=y\nA=y\n",        // not a CONFIG_ line
		"CONFIG_A=y\nCONFIG_A=n\n", // set twice
		"CONFIG_A y\n",             // no '='
		"config_a=y\n",             // lower case
	} {
		if _, err := ParseFragment("bad", strings.NewReader(text)); err == nil {
			t.Errorf("ParseFragment(%q) succeeded; want an error", text)
		}
	}
}

func TestBuiltinFragments(t *testing.T) {
	names := FragmentNames()
	if !slices.Contains(names, "base") {
		t.Fatalf("FragmentNames() = %v; want base among them", names)
	}
	frags, err := LoadFragments(names...)
	if err != nil {
		t.Fatal(err)
	}
	base := frags[slices.Index(names, "base")]
	for _, need := range []string{"CONFIG_SERIAL_8250_CONSOLE", "CONFIG_BLK_DEV_INITRD", "CONFIG_MODULE_UNLOAD",
		"CONFIG_DEVTMPFS", "CONFIG_FUTEX", "CONFIG_VIRTIO_NET", "CONFIG_PVPANIC"} {
		if !hasSymbol(base, need) {
			t.Errorf("the base fragment lacks %s", need)
		}
	}
	if _, err := LoadFragments("nonesuch"); err == nil || !strings.Contains(err.Error(), "base") {
		t.Errorf("LoadFragments(nonesuch) = %v; want an error listing the fragments", err)
	}
}

func hasSymbol(f Fragment, name string) bool {
	for _, s := range f.Symbols {
		if s.Name == name && s.Value == "y" {
			return true
		}
	}
	return false
}

func TestVerify(t *testing.T) {
	base, _ := ParseFragment("base", strings.NewReader("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=y\n"))
	over, _ := ParseFragment("debug", strings.NewReader("CONFIG_D=n\nCONFIG_E=y\n"))
	final, _ := ParseConfig(strings.NewReader("CONFIG_A=y\nCONFIG_B=m\n# CONFIG_D is not set\nCONFIG_Z=y\n"))

	err := Verify(final, []Fragment{base, over})
	var ms *MissingSymbolsError
	if !errors.As(err, &ms) {
		t.Fatalf("Verify = %v; want a *MissingSymbolsError", err)
	}
	var got []string
	for _, m := range ms.Mismatches {
		got = append(got, m.Name+"@"+m.Fragment)
	}
	// B was changed to m, E was dropped; C is unset as asked, and D's
	// override to n in the later fragment holds.
	if strings.Join(got, ",") != "CONFIG_B@base,CONFIG_E@debug" {
		t.Errorf("mismatches = %v; want CONFIG_B@base, CONFIG_E@debug", got)
	}
	for _, want := range []string{"CONFIG_B=y", "CONFIG_E=y", "did not survive olddefconfig"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if err := Verify(final, []Fragment{{Name: "empty"}}); err != nil {
		t.Errorf("Verify with nothing requested = %v", err)
	}
}

func TestMatrix(t *testing.T) {
	m, err := LoadMatrix()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"6.1", "6.1-debug", "6.12", "6.12-debug", "debian-6.1-cloud", "5.15", "6.6", "6.18", "mainline"} {
		if _, err := m.Cell(want); err != nil {
			t.Errorf("the matrix lacks %s: %v", want, err)
		}
	}
	if c, _ := m.Cell("mainline"); c.KernelSource().String() != "git "+Mainline+" master" || !c.Network ||
		!slices.Equal(c.Fragments(), []string{"base", "mainline"}) {
		t.Errorf("the mainline cell is %s (network %v, fragments %v); want master of %s, with -network, base and mainline",
			c.KernelSource(), c.Network, c.Fragments(), Mainline)
	}
	if _, err := m.Cell("7.0"); err == nil || !strings.Contains(err.Error(), "6.12-debug") {
		t.Errorf("Cell(7.0) = %v; want an error listing the cells", err)
	}
	for _, bad := range []string{
		`{"cells":[{"name":"a","source":"debian","kernel":"6.1","expect":"pass"},{"name":"a","source":"debian","kernel":"6.1","expect":"pass"}]}`,
		`{"cells":[{"name":"a","source":"url","kernel":"6.6","expect":"pass"}]}`,
		`{"cells":[{"name":"a","source":"ftp","kernel":"6.6","expect":"pass"}]}`,
		`{"cells":[{"name":"a","source":"debian","kernel":"6.1","config":["nonesuch"],"expect":"pass"}]}`,
		`{"cells":[{"name":"a","source":"debian","kernel":"6.1"}]}`,
		`{"cells":[{"name":"a","source":"git","kernel":"master","ref":"master","expect":"pass"}]}`,
		`{"cells":[{"name":"a","source":"debian","kernel":"6.1","ref":"master","expect":"pass"}]}`,
	} {
		if _, err := ParseMatrix([]byte(bad)); err == nil {
			t.Errorf("ParseMatrix accepted %s", bad)
		}
	}
}
