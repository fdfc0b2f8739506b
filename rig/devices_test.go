package main

// Device nodes as drivers make them (-device's forms), and choosing what
// runs (-run, -expect's forms), on real VMs.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// chrmapDevices are the chrmap fixture's two minors, made by the guest
// from the major the driver registered.
var chrmapDevices = []string{"-device", "/dev/chrmap0=c:chrmap:0", "-device", "/dev/chrmap1=c:chrmap:1"}

// A classic char driver, which registers a major and leaves mknod to user
// space, passes the whole contract on its first device, on both channels;
// its guest test sees both devices in its environment.
func TestCharDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"serial, one device", []string{"-device", "/dev/chrmap0=c:chrmap:0"}},
		{"serial, two devices", append(slices.Clone(chrmapDevices), "-guest-test", "guesttest")},
		{"ssh, two devices", append(slices.Clone(chrmapDevices), "-guest-test", "guesttest", "-channel", "ssh")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, append([]string{"-module", fixture("chrmap")}, tc.args...)...)
			rep := wantVerdict(t, r, verdict.Pass, "")
			var contract, guest []string
			for _, c := range rep.Cases {
				if c.Result != "pass" {
					t.Errorf("case %s/%s: %s %s", c.Suite, c.Name, c.Result, c.Reason)
				}
				if c.Suite == wire.CmdContract {
					contract = append(contract, c.Name)
				} else {
					guest = append(guest, c.Name)
				}
			}
			if !slices.Equal(contract, contractCases) {
				t.Errorf("contract cases %q; want %q", contract, contractCases)
			}
			if slices.Contains(tc.args, "-guest-test") && !slices.Equal(guest, []string{"TestEnvNamesBothDevices", "TestSeedBytesOfEachMinor"}) {
				t.Errorf("guest test cases %q; want both of chrmap's", guest)
			}
			if !strings.Contains(r.out, "PASS: /dev/chrmap0 maps the expected 10 bytes and meets the contract (7 cases)") {
				t.Error("the PASS line does not name /dev/chrmap0 and the whole contract")
			}
			assertRunRecord(t, r, tc.args)
		})
	}
}

// assertRunRecord checks that run.json records the devices as given.
func assertRunRecord(t *testing.T, r rigRun, args []string) {
	t.Helper()
	var want []string
	for i, a := range args {
		if a == "-device" {
			want = append(want, args[i+1])
		}
	}
	b, err := os.ReadFile(filepath.Join(r.artifacts, layout.RunSpec))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Config wire.Config `json:"config"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("run.json: %v", err)
	}
	if got := wire.DeviceSpecs(rec.Config.Devices); !slices.Equal(got, want) {
		t.Errorf("run.json's devices %q; want %q", got, want)
	}
}

// A node that exists before insmod is not the module's: the run fails
// as module-load and says what to do, unless -device marks it existing.
func TestPriorNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "-module", fixture("nodevice"), "-device", "/dev/null")
	rep := wantVerdict(t, r, verdict.ModuleLoad, "/dev/null existed before the module loaded; it is not the module's device")
	if !strings.Contains(rep.Message, "-device /dev/null=existing") || rep.Title != "a device node existed before the module loaded" {
		t.Errorf("the verdict %q (title %q) does not say how to mark the node", rep.Message, rep.Title)
	}
	r = runRig(t, "-module", fixture("nodevice"), "-device", "/dev/null=existing", "-checks", "none", "-channel", "ssh")
	wantVerdict(t, r, verdict.Pass, "")
	if !strings.Contains(r.out, "PASS: the module loads, /dev/null is there, and it unloads") {
		t.Error("the PASS line does not say what was proved")
	}
}

// A char driver's name that /proc/devices does not list fails as
// module-load, naming what it lists.
func TestCharDriverMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "-module", fixture("chrmap"), "-device", "/dev/scull0=c:scull:0")
	wantVerdict(t, r, verdict.ModuleLoad, `the module loaded but created no /dev/scull0=c:scull:0: /dev/scull0 did not appear within 2s: no char driver "scull" in /proc/devices (it lists `)
	if rep := r.report(t); !strings.Contains(rep.Message, ", chrmap") {
		t.Errorf("the verdict %q does not list the driver the module registered", rep.Message)
	}
}

// -run selects contract cases and Go guest tests by name, and the PASS
// line says the run was narrowed.
func TestRunSelects(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, append([]string{"-module", fixture("chrmap"), "-guest-test", "guesttest", "-run", "refuses|Seed"}, chrmapDevices...)...)
	rep := wantVerdict(t, r, verdict.Pass, "")
	var names []string
	for _, c := range rep.Cases {
		names = append(names, c.Suite+"/"+c.Name)
	}
	if want := []string{"contract/refuses_bad_maps", "guesttest/TestSeedBytesOfEachMinor"}; !slices.Equal(names, want) {
		t.Errorf("cases %q; want %q", names, want)
	}
	if rep.Run != "refuses|Seed" {
		t.Errorf("-json's run = %q; want the -run regexp", rep.Run)
	}
	if !strings.Contains(r.out, "meets the contract (1 of 7 cases selected by -run) and passes guesttest (1 case, selected by -run)") {
		t.Error("the PASS line does not say that -run selected the cases")
	}
	// Nothing matches anywhere: a mistake in the command, exit 2 before
	// anything boots, with the names there are.
	r = runRig(t, append([]string{"-module", fixture("chrmap"), "-guest-test", "guesttest", "-run", "NoSuchTest"}, chrmapDevices...)...)
	wantVerdict(t, r, verdict.Setup, `-run "NoSuchTest" matches no case; the cases are the contract's `+strings.Join(contractCases, ", ")+
		"; guesttest's TestEnvNamesBothDevices, TestSeedBytesOfEachMinor")
	if !strings.Contains(r.out, "serial log: none; the VM did not start") {
		t.Error("a -run that matches nothing booted a VM")
	}
}

// -expect's hex and quoted forms reach the reader and the contract.
func TestExpectForms(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "-expect", "0x00010203040506070809")
	assertContract(t, wantVerdict(t, r, verdict.Pass, ""))
	r = runRig(t, "-expect", "'asdf'", "-checks", "reader")
	wantVerdict(t, r, verdict.Contract, "wrong bytes in the mapped page: got [0 1 2 3], want [97 115 100 102]")
}
