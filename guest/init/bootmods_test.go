package main

import "testing"

func TestModuleParams(t *testing.T) {
	cmdline := "console=ttyS0 virtio_mmio.device=512@0xfeb00e00:12 virtio-mmio.device=512@0xfeb00c00:11 virtio_net.napi_tx=1 virtio_mmiox.y=2 quiet\n"
	for _, c := range []struct{ mod, want string }{
		{"virtio_mmio", "device=512@0xfeb00e00:12 device=512@0xfeb00c00:11"},
		{"virtio-net", "napi_tx=1"},
		{"virtio_console", ""},
		{"pvpanic-mmio", ""},
	} {
		if got := moduleParams(cmdline, c.mod); got != c.want {
			t.Errorf("moduleParams(%q) = %q, want %q", c.mod, got, c.want)
		}
	}
}
