package proc

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// Run returns the program's own end, and a program killed at its deadline
// ends the wait: only a program that outlives SIGKILL (state D in a
// module, which the end-to-end fixture stallmmap makes) is ErrUnkillable.
func TestRun(t *testing.T) {
	if err := Run(context.Background(), Command(context.Background(), 0, "true"), time.Minute, nil); err != nil {
		t.Errorf("true: %v", err)
	}
	var ee *exec.ExitError
	if err := Run(context.Background(), Command(context.Background(), 0, "false"), time.Minute, nil); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("false: %v; want exit status 1", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := Run(ctx, Command(ctx, 0, "sleep", "60"), time.Minute, nil)
	if err == nil || errors.Is(err, ErrUnkillable) {
		t.Errorf("sleep 60 killed at its deadline: %v; want the kill's error", err)
	}
	if err := Run(context.Background(), Command(context.Background(), 0, "/nonexistent/prog"), time.Minute, nil); err == nil {
		t.Error("a program that cannot start: no error")
	}
}
