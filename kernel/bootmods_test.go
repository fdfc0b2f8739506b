package kernel

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// writeModDir writes a /lib/modules/RELEASE with the modules.dep and
// modules.builtin given.
func writeModDir(t *testing.T, dep, builtin string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"modules.dep": dep, "modules.builtin": builtin} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The lines are Debian 6.1 cloud's, shortened: depmod lists a module's
// needs with the one that needs nothing last.
const cloudDep = `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/misc/pvpanic/pvpanic-mmio.ko: kernel/drivers/misc/pvpanic/pvpanic.ko
kernel/drivers/misc/pvpanic/pvpanic.ko:
`

func TestBootModules(t *testing.T) {
	for _, tc := range []struct {
		name, dep, builtin string
		want               []string
	}{
		{"all modules", cloudDep, "kernel/drivers/tty/serial/8250/8250.ko\n", []string{
			"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_mmio.ko",
			"kernel/drivers/char/virtio_console.ko",
			"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
			"kernel/drivers/misc/pvpanic/pvpanic.ko", "kernel/drivers/misc/pvpanic/pvpanic-mmio.ko",
		}},
		// 6.12's compressed modules, with virtio and the console built in.
		{"some built in, compressed", `kernel/drivers/virtio/virtio_mmio.ko.xz:
kernel/net/core/failover.ko.xz:
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz
kernel/drivers/misc/pvpanic/pvpanic-mmio.ko.xz:
`, "kernel/drivers/virtio/virtio.ko\nkernel/drivers/char/virtio_console.ko\n", []string{
			"kernel/drivers/virtio/virtio_mmio.ko.xz",
			"kernel/net/core/failover.ko.xz", "kernel/drivers/net/net_failover.ko.xz", "kernel/drivers/net/virtio_net.ko.xz",
			"kernel/drivers/misc/pvpanic/pvpanic-mmio.ko.xz",
		}},
		{"all built in", "", "kernel/drivers/virtio/virtio_mmio.ko\nkernel/drivers/char/virtio_console.ko\nkernel/drivers/net/virtio_net.ko\nkernel/drivers/misc/pvpanic/pvpanic-mmio.ko\n", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeModDir(t, tc.dep, tc.builtin)
			got, err := BootModules(dir, BootDrivers)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = filepath.Join(dir, w)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestBootModulesErrors(t *testing.T) {
	for _, tc := range []struct{ name, dep string }{
		{"driver missing", "kernel/drivers/virtio/virtio_mmio.ko:\n"},
		{"dependency unlisted", cloudDep + "kernel/drivers/x.ko: kernel/drivers/y.ko\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BootModules(writeModDir(t, tc.dep, ""), BootDrivers)
			if !errors.Is(err, ErrBadSource) {
				t.Errorf("err = %v, want ErrBadSource", err)
			}
		})
	}
	if _, err := BootModules(t.TempDir(), BootDrivers); !errors.Is(err, ErrBadSource) {
		t.Errorf("no modules.dep: err = %v, want ErrBadSource", err)
	}
}

func TestNewestABI(t *testing.T) {
	lines := `linux-image-6.12.107+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs
linux-image-6.12.118+deb12-cloud-amd64-unsigned - Linux 6.12 for x86-64 cloud
linux-image-6.12.99+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs
linux-image-6.12.111+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs
linux-image-6.12.117+deb12-rt-amd64-unsigned - Linux 6.12 for 64-bit PCs, PREEMPT_RT
linux-image-6.1.0-9-cloud-amd64-unsigned - Linux 6.1 for x86-64 cloud
linux-image-6.1.0-57-cloud-amd64-unsigned - Linux 6.1 for x86-64 cloud
linux-image-6.1.0-56-cloud-amd64-unsigned - Linux 6.1 for x86-64 cloud
`
	for _, tc := range []struct{ series, flavour, want string }{
		{"6.12", "amd64", "6.12.111+deb12"},
		{"6.12", "cloud-amd64", "6.12.118+deb12"},
		{"6.1", "cloud-amd64", "6.1.0-57"},
		{"6.1", "amd64", ""},
	} {
		got, ok := newestABI(lines, tc.series, tc.flavour)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("newestABI(%s, %s) = %q, %v; want %q", tc.series, tc.flavour, got, ok, tc.want)
		}
	}
}

func TestPrebuiltPackages(t *testing.T) {
	for _, tc := range []struct {
		d    DebianPrebuilt
		abi  string
		want []string
	}{
		{DebianPrebuilt{"6.1", "cloud-amd64"}, "6.1.0-57", []string{"linux-image-6.1.0-57-cloud-amd64-unsigned",
			"linux-headers-6.1.0-57-cloud-amd64", "linux-headers-6.1.0-57-common", "linux-kbuild-6.1"}},
		{DebianPrebuilt{"6.12", "amd64"}, "6.12.118+deb12", []string{"linux-image-6.12.118+deb12-amd64-unsigned",
			"linux-headers-6.12.118+deb12-amd64", "linux-headers-6.12.118+deb12-common", "linux-kbuild-6.12.118+deb12"}},
	} {
		if got := tc.d.packages(tc.abi); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: packages(%s) = %q, want %q", tc.d, tc.abi, got, tc.want)
		}
	}
}

func TestParsePrebuilt(t *testing.T) {
	for _, tc := range []struct {
		spec   string
		want   DebianPrebuilt
		ok     bool
		hasErr bool
	}{
		{"debian:6.12-cloud", DebianPrebuilt{"6.12", "cloud-amd64"}, true, false},
		{"debian:6.12", DebianPrebuilt{"6.12", "amd64"}, true, false},
		{"debian:6.1-rt", DebianPrebuilt{"6.1", "rt-amd64"}, true, false},
		{"6.12", DebianPrebuilt{}, false, false},
		{"debian:cloud", DebianPrebuilt{}, true, true},
		{"debian:6.12-cloud-amd64", DebianPrebuilt{}, true, true},
	} {
		got, ok, err := ParsePrebuilt(tc.spec, "amd64")
		if got != tc.want || ok != tc.ok || (err != nil) != tc.hasErr {
			t.Errorf("ParsePrebuilt(%q) = %v, %v, %v", tc.spec, got, ok, err)
		}
	}
}
