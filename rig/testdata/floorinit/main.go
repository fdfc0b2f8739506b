// Command floorinit is the boot floor's /init: a static program that
// powers the machine off at once. make bench boots it with the rig's
// kernel and QEMU machine line, to show what a boot costs on its own.
package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	fmt.Fprintln(os.Stdout, "floorinit: powering off")
	unix.IoctlSetInt(int(os.Stdout.Fd()), unix.TCSBRK, 1)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	for {
		time.Sleep(time.Hour)
	}
}
