// Command modctl loads and unloads the module under test, for the rig's
// SSH channel:
//
//	modctl load PATH [TIMEOUT]   finit_module, giving up after TIMEOUT
//	modctl unload PATH           delete_module by the module's own name
//	modctl wait NODE [TIMEOUT]   wait for a device node
//
// It exits 0 on success, 1 on failure, 2 on bad usage, 124 on a timeout.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mmaprig/mmaprig/guest/kmod"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: modctl load|unload|wait PATH [TIMEOUT]")
		os.Exit(2)
	}
	timeout := 20 * time.Second
	if len(os.Args) > 3 {
		d, err := time.ParseDuration(os.Args[3])
		if err != nil {
			fmt.Fprintf(os.Stderr, "modctl: bad timeout: %v\n", err)
			os.Exit(2)
		}
		timeout = d
	}
	var err error
	switch arg := os.Args[2]; os.Args[1] {
	case "load":
		err = kmod.Load(arg, "", timeout)
	case "unload":
		var name string
		if name, err = kmod.Name(arg); err == nil {
			err = kmod.Unload(name)
		}
	case "wait":
		err = kmod.WaitNode(arg, timeout)
	default:
		fmt.Fprintf(os.Stderr, "modctl: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "modctl: %v\n", err)
		if errors.Is(err, kmod.ErrTimeout) {
			os.Exit(124)
		}
		os.Exit(1)
	}
}
