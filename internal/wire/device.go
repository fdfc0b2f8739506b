package wire

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Device is a device node of the run, as -device names it:
//
//	/dev/mymap              a node the module creates (misc_register, device_create)
//	/dev/scull0=c:scull:0   a char node the guest makes after insmod, with the
//	                        major /proc/devices gives the driver "scull", minor 0
//	/dev/null=existing      a node that exists before the module loads
//
// A node the module is to create, or whose driver it is to register, must
// not exist before insmod: one that does is not the module's.
type Device struct {
	// Path is the node, such as /dev/mymap.
	Path string `json:"path"`
	// Driver, when set, is the char driver's name in /proc/devices: the
	// guest makes Path as a char node of its major and Minor.
	Driver string `json:"driver,omitempty"`
	Minor  uint32 `json:"minor,omitempty"`
	// Existing marks a node that exists before the module loads.
	Existing bool `json:"existing,omitempty"`
}

// DefaultDevice is the node the seed's driver creates.
const DefaultDevice = "/dev/mymap"

// existingMark is what follows "=" for a node that exists before insmod.
const existingMark = "existing"

// ErrPriorNode starts the error of a device step whose node existed
// before the module loaded.
const ErrPriorNode = "existed before the module loaded"

// ParseDevice reads one device spec, as Device's comment shows them.
func ParseDevice(s string) (Device, error) {
	path, how, hasHow := strings.Cut(s, "=")
	d := Device{Path: path}
	switch {
	case !filepath.IsAbs(path) || filepath.Clean(path) != path:
		return d, fmt.Errorf("%q: the node must be a clean absolute path, such as /dev/mymap", path)
	case strings.ContainsAny(path, ":,= \t\n"):
		return d, fmt.Errorf("%q: a node's path has no ':', ',', '=' or spaces", path)
	case !hasHow:
		return d, nil
	case how == existingMark:
		d.Existing = true
		return d, nil
	}
	parts := strings.Split(how, ":")
	if len(parts) != 3 || parts[0] != "c" || parts[1] == "" || strings.ContainsAny(parts[1], " \t\n") {
		return d, fmt.Errorf("%q: after '=' want c:DRIVER:MINOR (the char driver's name in /proc/devices and a minor, such as c:scull:0) or %s", s, existingMark)
	}
	minor, err := strconv.ParseUint(parts[2], 10, 20)
	if err != nil {
		return d, fmt.Errorf("%q: minor %q is not a number from 0 to %d", s, parts[2], 1<<20-1)
	}
	d.Driver, d.Minor = parts[1], uint32(minor)
	return d, nil
}

// String is the device's spec, as ParseDevice reads it.
func (d Device) String() string {
	switch {
	case d.Driver != "":
		return fmt.Sprintf("%s=c:%s:%d", d.Path, d.Driver, d.Minor)
	case d.Existing:
		return d.Path + "=" + existingMark
	}
	return d.Path
}

// ParseDevices reads several specs, and refuses a node named twice.
func ParseDevices(specs []string) ([]Device, error) {
	var out []Device
	seen := map[string]bool{}
	for _, s := range specs {
		d, err := ParseDevice(s)
		if err != nil {
			return nil, err
		}
		if seen[d.Path] {
			return nil, fmt.Errorf("%s is named twice", d.Path)
		}
		seen[d.Path] = true
		out = append(out, d)
	}
	return out, nil
}

// DevicePaths are the devices' nodes, in order.
func DevicePaths(devs []Device) []string {
	paths := make([]string, len(devs))
	for i, d := range devs {
		paths[i] = d.Path
	}
	return paths
}

// DeviceSpecs are the devices' specs, in order.
func DeviceSpecs(devs []Device) []string {
	specs := make([]string, len(devs))
	for i, d := range devs {
		specs[i] = d.String()
	}
	return specs
}
