package dkms

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

var testEnv = Env{KernelVer: "6.1.158", Arch: "x86_64", KernelSourceDir: "/k", DKMSTree: "/var/lib/dkms", SourceTree: "/usr/src"}

// Real dkms.conf files, and what dkms would make of them.
func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      Conf
	}{
		{"the usual", `PACKAGE_NAME="cbm"
PACKAGE_VERSION="0.4.99"
AUTOINSTALL=yes
MAKE[0]="make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"
CLEAN="make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build clean"
BUILT_MODULE_NAME[0]="cbm"
DEST_MODULE_LOCATION[0]="/extra"
`, Conf{PackageName: "cbm", PackageVersion: "0.4.99", Make: "make -C /k M=/var/lib/dkms/cbm/0.4.99/build",
			Clean:   "make -C /k M=/var/lib/dkms/cbm/0.4.99/build clean",
			Modules: []Module{{Name: "cbm", DestName: "cbm", DestLocation: "/extra"}}}},
		// One module named after the package; no MAKE: dkms's default.
		{"defaults", "PACKAGE_NAME=solo\nPACKAGE_VERSION=1\nDEST_MODULE_LOCATION=/updates/dkms\n",
			Conf{PackageName: "solo", PackageVersion: "1", Make: "make -C /k M=/var/lib/dkms/solo/1/build",
				Modules: []Module{{Name: "solo", DestName: "solo", DestLocation: "/updates/dkms"}}}},
		// Several modules, locations without their slash, $module set on
		// the second reading, a function and a conditional.
		{"several", `PACKAGE_NAME=pair
PACKAGE_VERSION=2.0
name() { echo "pair_$1"; }
BUILT_MODULE_NAME[0]=$(name core)
BUILT_MODULE_LOCATION[0]=core
DEST_MODULE_LOCATION[0]=/extra
BUILT_MODULE_NAME[1]="${module}_user"
BUILT_MODULE_LOCATION[1]=user/
DEST_MODULE_NAME[1]=pairuser
DEST_MODULE_LOCATION[1]=/extra
if [[ $arch == x86_64 ]]; then MAKE[0]="make KVER=$kernelver"; else MAKE[0]=false; fi
`, Conf{PackageName: "pair", PackageVersion: "2.0", Make: "make KVER=6.1.158", Modules: []Module{
			{Name: "pair_core", Location: "core/", DestName: "pair_core", DestLocation: "/extra"},
			{Name: "pair_user", Location: "user/", DestName: "pairuser", DestLocation: "/extra"}}}},
		// MAKE_MATCH picks the command for the kernel; the last match wins.
		{"make match", `PACKAGE_NAME=m
PACKAGE_VERSION=1
BUILT_MODULE_NAME[0]=m
DEST_MODULE_LOCATION[0]=/kernel/extra
MAKE[0]="make old"
MAKE_MATCH[0]="^5\."
MAKE[1]="make new"
MAKE_MATCH[1]="^6\.[0-9]+"
MAKE[2]="make later"
MAKE_MATCH[2]="^7"
`, Conf{PackageName: "m", PackageVersion: "1", Make: "make new",
			Modules: []Module{{Name: "m", DestName: "m", DestLocation: "/kernel/extra"}}}},
		// A false test as the last line does not fail the source.
		{"last status", "PACKAGE_NAME=z\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=z\nDEST_MODULE_LOCATION=/extra\n[ -n \"\" ] && MAKE=never\n",
			Conf{PackageName: "z", PackageVersion: "1", Make: "make -C /k M=/var/lib/dkms/z/1/build",
				Modules: []Module{{Name: "z", DestName: "z", DestLocation: "/extra"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(context.Background(), tc.src, "dkms.conf", testEnv)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// What dkms refuses, the rig refuses with dkms's reason; what dkms would
// run while sourcing, the rig refuses to run.
func TestReadErrors(t *testing.T) {
	const ok = "PACKAGE_NAME=p\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=p\nDEST_MODULE_LOCATION=/extra\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"no name", "PACKAGE_VERSION=1\nBUILT_MODULE_NAME=p\nDEST_MODULE_LOCATION=/extra\n", "dkms.conf: no PACKAGE_NAME"},
		{"no modules", "PACKAGE_NAME=p\nPACKAGE_VERSION=1\n", "dkms.conf: no BUILT_MODULE_NAME: the package builds no module"},
		{"ko suffix", "PACKAGE_NAME=p\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=p.ko\nDEST_MODULE_LOCATION=/extra\n",
			`dkms.conf: BUILT_MODULE_NAME[0]="p.ko" ends in .o or .ko`},
		{"unnamed second", "PACKAGE_NAME=p\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=p\nDEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\n",
			"dkms.conf: no BUILT_MODULE_NAME[1]"},
		{"dest", "PACKAGE_NAME=p\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=p\nDEST_MODULE_LOCATION=/opt\n",
			`dkms.conf: DEST_MODULE_LOCATION[0]="/opt" does not begin with /kernel, /updates or /extra`},
		{"command", ok + "MAKE[0]=\"make -j$(nproc)\"\n",
			`dkms.conf runs "nproc": the rig reads dkms.conf without running commands or opening files; set the value itself`},
		{"file", ok + ". ./version.sh\n",
			"dkms.conf opens ./version.sh: the rig reads dkms.conf without running commands or opening files; set the value itself"},
		{"pre build", ok + "PRE_BUILD=configure\n", "dkms.conf: PRE_BUILD is set, and the rig runs only the build command (MAKE)"},
		{"bad match", ok + "MAKE[0]=make\nMAKE_MATCH[0]='('\n", "dkms.conf: MAKE_MATCH[0]=\"(\" is not a regular expression: error parsing regexp: missing closing ): `(`"},
		{"syntax", "PACKAGE_NAME=(\n", "dkms.conf is not a shell fragment dkms could source: dkms.conf:1:14: reached EOF without matching ( with )"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(context.Background(), tc.src, "dkms.conf", testEnv)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
}

// dkms build gives a leading make the kernel's release, and nothing else.
func TestBuildCommand(t *testing.T) {
	for _, tc := range []struct{ make, want string }{
		{"make -C /k M=/b", "make KERNELRELEASE=6.1.158 -C /k M=/b"},
		{"make", "make KERNELRELEASE=6.1.158"},
		{"./build.sh 6.1", "./build.sh 6.1"},
	} {
		if got := (Conf{Make: tc.make}).BuildCommand(testEnv); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.make, got, tc.want)
		}
	}
	if p := (Module{Name: "a", Location: "sub/"}).Path(); p != "sub/a.ko" || !strings.HasSuffix((Module{Name: "b"}).Path(), "b.ko") {
		t.Errorf("module paths: %q", p)
	}
}
