package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/digitalocean/go-qemu/qmp/raw"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// SaveTimeout bounds saving a guest's state to a file.
const SaveTimeout = 30 * time.Second

// Save stops the guest and writes its whole state to path with QMP
// migrate, then leaves it stopped; Resume lets it run on. QEMU 7.2 has the
// exec: transport (file: and mapped-ram came in 8.2 and 9.0), so the state
// goes through cat. The file appears only when it is complete.
func (v *VM) Save(path string) error {
	if err := v.qmp("stop", func(m *raw.Monitor) error { return m.Stop() }); err != nil {
		return err
	}
	// The default bandwidth cap (128 MiB/s) would make a 256 MiB guest's
	// save take seconds; the guest is stopped, so there is nothing to
	// converge on.
	if _, err := v.run(`{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":68719476736}}`); err != nil {
		return err
	}
	tmp := path + ".part"
	uri := "exec:cat > " + wire.Quote(tmp)
	if err := v.qmp("migrate", func(m *raw.Monitor) error { return m.Migrate(uri, nil, nil, nil) }); err != nil {
		return err
	}
	deadline := time.Now().Add(SaveTimeout)
	for {
		status, desc, err := v.migrationStatus()
		switch {
		case err != nil:
			os.Remove(tmp)
			return err
		case status == "completed":
			return os.Rename(tmp, path)
		case status == "failed" || status == "cancelled":
			os.Remove(tmp)
			return fmt.Errorf("save the guest: migration %s: %s", status, desc)
		case time.Now().After(deadline):
			v.run(`{"execute":"migrate_cancel"}`)
			os.Remove(tmp)
			return fmt.Errorf("save the guest: migration still %s after %v", status, SaveTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resume lets a stopped guest run (QMP cont).
func (v *VM) Resume() error {
	return v.qmp("cont", func(m *raw.Monitor) error { return m.Cont() })
}

// migrationStatus is query-migrate's status and error, read from QEMU's
// own JSON: go-qemu's generated enum does not know every status QEMU has.
func (v *VM) migrationStatus() (status, desc string, err error) {
	out, err := v.run(`{"execute":"query-migrate"}`)
	if err != nil {
		return "", "", err
	}
	var r struct {
		Return struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		} `json:"return"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return "", "", fmt.Errorf("QMP query-migrate: %w", err)
	}
	return r.Return.Status, r.Return.ErrorDesc, nil
}

// run sends a raw QMP command with the usual deadline.
func (v *VM) run(cmd string) ([]byte, error) {
	var out []byte
	name := cmd
	if i := strings.Index(cmd, `"execute":"`); i >= 0 {
		name, _, _ = strings.Cut(cmd[i+len(`"execute":"`):], `"`)
	}
	err := v.qmp(name, func(*raw.Monitor) (err error) {
		out, err = v.mon.Run([]byte(cmd))
		return err
	})
	return out, err
}

// ErrRestore means a saved guest could not be restored: the file is not a
// state QEMU takes, or not one of this machine. The caller boots cold.
var ErrRestore = errors.New("the saved guest could not be restored")

// waitIncoming waits for an incoming migration to finish. The saved guest
// was stopped, so the restored one stays paused until Resume.
func (v *VM) waitIncoming(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := v.Status()
		switch {
		case err != nil:
			return fmt.Errorf("%w: %v; see %s", ErrRestore, err, v.cfg.ArtifactDir+"/qemu.log")
		case st == "paused" || st == "running":
			return nil
		case st != "inmigrate":
			return fmt.Errorf("%w: QEMU is %s", ErrRestore, st)
		case time.Now().After(deadline):
			return fmt.Errorf("%w: still restoring after %v", ErrRestore, timeout)
		}
		select {
		case <-v.exited:
			return fmt.Errorf("%w: QEMU exited: %v; see %s", ErrRestore, v.waitErr, v.cfg.ArtifactDir+"/qemu.log")
		case <-time.After(2 * time.Millisecond):
		}
	}
}
