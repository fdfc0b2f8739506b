package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// serveSSH brings up the network and sshd, reports ready, and waits until
// the rig asks for the settle (true), or for the power off (or its end of
// the port goes away).
func serveSSH(con *os.File, p *port) bool {
	ev := step(wire.EvReady, wire.CmdSSHD, startSSH)
	p.emit(ev)
	if !ev.OK {
		return false
	}
	for {
		req, err := p.request()
		if err != nil {
			logf(con, "results port: %v", err)
			return false
		}
		switch {
		case req.Settle:
			return true
		case req.PowerOff:
			return false
		}
	}
}

// startSSH starts sshd and returns once it listens.
func startSSH() error {
	if err := netUp(); err != nil {
		return err
	}
	cmd := exec.Command(wire.CmdSSHD, "-host-key", wire.HostKeyPath, "-authorized-key", wire.AuthorizedKeyPath)
	cmd.Stderr = os.Stdout
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("sshd did not come up: %q %v", line, err)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		return err
	case <-time.After(wire.SSHDStartTimeout):
		return fmt.Errorf("sshd did not listen within %v", wire.SSHDStartTimeout)
	}
}

func netUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("network: lo up: %w", err)
	}
	eth, err := netlink.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("network: no eth0 (is virtio-net there?): %w", err)
	}
	addr, err := netlink.ParseAddr(wire.GuestAddr)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("network: address eth0: %w", err)
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return fmt.Errorf("network: eth0 up: %w", err)
	}
	gw := net.IPv4(10, 0, 2, 2)
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("network: default route: %w", err)
	}
	return nil
}
