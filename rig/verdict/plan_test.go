package verdict

import (
	"slices"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
)

func TestExitCodes(t *testing.T) {
	for c, want := range map[Class]int{
		Pass: 0, ModuleBuild: 1, ModuleLoad: 1, GuestCrash: 1, Contract: 1,
		Setup: 2, KernelBuild: 3, Boot: 3, Channel: 3, Infra: 3,
	} {
		if got := c.ExitCode(); got != want {
			t.Errorf("%s.ExitCode() = %d, want %d", c, got, want)
		}
		if p, err := ParseClass(string(c)); err != nil || p != c {
			t.Errorf("ParseClass(%q) = %q, %v", c, p, err)
		}
	}
	if _, err := ParseClass("passed"); err == nil {
		t.Error("ParseClass took an unknown class")
	}
}

func testSpec(channel string) Spec {
	reader := Program{Program: wire.Program{Argv: wire.ReaderArgv("/dev/mymap", 10), TimeoutMS: 60000}, Check: CheckReader}
	contract := Program{Program: wire.Program{Argv: []string{"contract"}, TimeoutMS: 30000}, Check: CheckKTAP}
	return Spec{Channel: channel, Nonce: "n", Devices: []wire.Device{{Path: "/dev/mymap"}}, Expect: wire.DefaultExpect,
		Programs: []Program{reader, contract}, Unload: true,
		BootTimeout: time.Minute, LoadTimeout: 20 * time.Second, UnloadTimeout: 10 * time.Second, Slack: 5 * time.Second}
}

// The plan lists every step, from the right source, each with the
// guest's own bound plus the slack as its deadline.
func TestPlan(t *testing.T) {
	var names []string
	plan := testSpec(wire.ChannelSerial).Plan()
	for _, st := range plan {
		names = append(names, st.String())
		if st.Source != Guest {
			t.Errorf("serial step %s comes from the %s", st, st.Source)
		}
	}
	want := []string{"boot", "insmod", "device", "run reader -dev /dev/mymap -n 10", "run contract", "unload", "end"}
	if !slices.Equal(names, want) {
		t.Errorf("serial plan = %q, want %q", names, want)
	}
	if plan[3].Timeout != 65*time.Second || plan[4].Timeout != 35*time.Second {
		t.Errorf("per-program deadlines = %v, %v; want each program's own bound plus the slack", plan[3].Timeout, plan[4].Timeout)
	}

	plan = testSpec(wire.ChannelSSH).Plan()
	if plan[0].Source != Guest || plan[1].Event != wire.EvReady || plan[1].Source != Guest {
		t.Errorf("ssh plan starts %v, %v; want boot and ready from the guest", plan[0], plan[1])
	}
	for _, st := range plan[2:] {
		if st.Source != Host {
			t.Errorf("ssh step %s comes from the %s; SSH runs it", st, st.Source)
		}
	}
}

// The guest's configuration and the plan come from one spec.
func TestConfigFollowsSpec(t *testing.T) {
	s := testSpec(wire.ChannelSerial)
	cfg := s.Config()
	if len(cfg.Programs) != 2 || cfg.Programs[1].TimeoutMS != 30000 || !cfg.Unload || cfg.UnloadTimeoutMS != 10000 || cfg.LoadTimeoutMS != 20000 {
		t.Errorf("config = %+v", cfg)
	}
}

// Each module's load and unload has the guest's bound: the plan's
// deadlines for the steps grow with the modules; a spec without modules
// (a recording from before several) loads the one at wire.ModulePath.
func TestPlanModules(t *testing.T) {
	for _, tc := range []struct {
		modules      []string
		want         []string
		load, unload time.Duration
	}{
		{nil, []string{wire.ModulePath}, 25 * time.Second, 15 * time.Second},
		{wire.ModulePaths([]string{"a.ko", "b.ko"}), []string{wire.DepsDir + "/a.ko", wire.ModulePath}, 45 * time.Second, 25 * time.Second},
	} {
		s := testSpec(wire.ChannelSerial)
		s.Modules = tc.modules
		if got := s.Config().Modules; !slices.Equal(got, tc.want) {
			t.Errorf("%q: the guest loads %q; want %q", tc.modules, got, tc.want)
		}
		for _, st := range s.Plan() {
			if st.Event == wire.EvInsmod && st.Timeout != tc.load || st.Event == wire.EvUnload && st.Timeout != tc.unload {
				t.Errorf("%q: step %s has %v", tc.modules, st, st.Timeout)
			}
		}
	}
}
