package main

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// wheelSleep sleeps for d on the kernel's timer wheel, the clock that a
// module's timer_list and delayed work run on, rather than on an hrtimer
// as time.Sleep, nanosleep, poll and futex do. A receive with SO_RCVTIMEO
// on an idle socket waits in schedule_timeout(), whose wake-up is itself a
// timer_list: a timer that was due before the wake-up expires in the same
// timer run or an earlier one, and its callback runs before this sleep
// returns, however late the host ran the guest. With an hrtimer the two
// race whenever the guest's vCPU is descheduled past both deadlines.
// minWheelWait is a tick at HZ=250, the longest tick of the rig's kernels.
const minWheelWait = 4 * time.Millisecond

func wheelSleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	deadline := time.Now().Add(d)
	buf := make([]byte, 1)
	for {
		_, _, err := unix.Recvfrom(fds[0], buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.EINTR):
			// A signal (the Go runtime's own, say) cut the wait short:
			// wait for the rest on the wheel, and for at least one tick,
			// so that a timer run follows the interruption.
			rest := max(time.Until(deadline), minWheelWait)
			tv = unix.NsecToTimeval(rest.Nanoseconds())
			if err := unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return fmt.Errorf("SO_RCVTIMEO: %w", err)
			}
		case err != nil:
			return fmt.Errorf("recv: %w", err)
		default:
			return errors.New("recv: a datagram arrived on a socket nobody writes to")
		}
	}
}
