package vm

import (
	"fmt"
	"net"
	"regexp"
	"strconv"

	"github.com/digitalocean/go-qemu/qmp/raw"
)

// hostfwdRE matches a host forward in HMP's "info usernet":
//
//	TCP[HOST_FORWARD]  12       127.0.0.1 38023       10.0.2.15    22     0     0
var hostfwdRE = regexp.MustCompile(`TCP\[HOST_FORWARD\]\s+\d+\s+(\S+)\s+(\d+)\s+\S+\s+(\d+)`)

// HostForward returns the host address QEMU forwards to guestPort. The
// rig asks QEMU for port 0, so the kernel picks a free one and parallel
// runs cannot collide; this reads which it picked.
func (v *VM) HostForward(guestPort int) (string, error) {
	var out string
	err := v.qmp("info usernet", func(m *raw.Monitor) (err error) {
		out, err = m.HumanMonitorCommand("info usernet", nil)
		return err
	})
	if err != nil {
		return "", err
	}
	return ParseHostForward(out, guestPort)
}

// ParseHostForward finds the host side of a forward to guestPort in the
// output of "info usernet".
func ParseHostForward(usernet string, guestPort int) (string, error) {
	for _, m := range hostfwdRE.FindAllStringSubmatch(usernet, -1) {
		if m[3] == strconv.Itoa(guestPort) {
			return net.JoinHostPort(m[1], m[2]), nil
		}
	}
	return "", fmt.Errorf("no host forward to guest port %d in:\n%s", guestPort, usernet)
}

// Pause stops the guest's CPUs (QMP stop), as a hung guest would look.
func (v *VM) Pause() error {
	return v.qmp("stop", func(m *raw.Monitor) error { return m.Stop() })
}

// SetLink takes the guest's network link up or down (QMP set_link).
func (v *VM) SetLink(up bool) error {
	return v.qmp("set_link", func(m *raw.Monitor) error { return m.SetLink(netdevID, up) })
}
