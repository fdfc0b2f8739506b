package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
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
// goes through cat. The file appears only when it is complete, and only
// after its checksum record (see CheckSnapshot).
func (v *VM) Save(ctx context.Context, path string) error {
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
			return commitSaved(ctx, tmp, path)
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

// commitSaved records the checksum of a complete saved state, then moves
// it to path: a state is never at path without its record.
func commitSaved(ctx context.Context, tmp, path string) error {
	sum, err := sumFile(ctx, tmp)
	if err == nil {
		err = writeSumRecord(path+SumSuffix, sum)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		os.Remove(path + SumSuffix)
		return fmt.Errorf("save the guest: %w", err)
	}
	return nil
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

// SumSuffix names a saved guest's checksum record: FILE.crc32c beside FILE.
const SumSuffix = ".crc32c"

// ErrSnapshotSum means a saved guest's file is not the one that was saved:
// its checksum or size does not match its record, or its record is missing
// or partial. The caller must not give it to QEMU.
var ErrSnapshotSum = errors.New("snapshot checksum")

// SumError is a saved guest that its checksum record does not vouch for.
type SumError struct {
	// Path is the saved state.
	Path string
	// Problem is the whole message, which names the file.
	Problem string
}

func (e *SumError) Error() string { return e.Problem }

// Is makes a SumError an ErrSnapshotSum.
func (e *SumError) Is(target error) bool { return target == ErrSnapshotSum }

// fileSum is a file's CRC32C (Castagnoli) and size.
type fileSum struct {
	crc  uint32
	size int64
}

func (s fileSum) String() string { return fmt.Sprintf("crc32c %08x over %d bytes", s.crc, s.size) }

// sumFile reads the whole file at path. CRC32C has a CPU instruction on
// amd64 and arm64, so this runs at the speed of the page cache.
func sumFile(ctx context.Context, path string) (fileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileSum{}, err
	}
	defer f.Close()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return fileSum{}, err
		}
		m, err := f.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			return fileSum{crc: h.Sum32(), size: n}, nil
		}
		if err != nil {
			return fileSum{}, fmt.Errorf("checksum %s: %w", path, err)
		}
	}
}

// writeSumRecord writes a checksum record, atomically: a reader finds the
// whole record or none. The trailing newline marks a whole record.
func writeSumRecord(record string, s fileSum) error {
	tmp := record + ".tmp-" + strconv.Itoa(os.Getpid())
	line := fmt.Sprintf("crc32c %08x %d\n", s.crc, s.size)
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		return fmt.Errorf("write the checksum record: %w", err)
	}
	if err := os.Rename(tmp, record); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write the checksum record: %w", err)
	}
	return nil
}

// parseSumRecord reads a record that writeSumRecord wrote, refusing one
// that is partial or in another format.
func parseSumRecord(b []byte) (fileSum, bool) {
	line, ok := bytes.CutSuffix(b, []byte("\n"))
	f := strings.Fields(string(line))
	if !ok || len(f) != 3 || f[0] != "crc32c" || len(f[1]) != 8 {
		return fileSum{}, false
	}
	crc, err1 := strconv.ParseUint(f[1], 16, 32)
	size, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || size < 0 {
		return fileSum{}, false
	}
	return fileSum{crc: uint32(crc), size: size}, true
}

// WriteSnapshotSum records the checksum of the saved state at path, as
// Save does. It is for states that Save did not write.
func WriteSnapshotSum(ctx context.Context, path string) error {
	s, err := sumFile(ctx, path)
	if err != nil {
		return err
	}
	return writeSumRecord(path+SumSuffix, s)
}

// CheckSnapshot verifies the saved state at path against the checksum
// recorded when it was saved. Call it before QEMU reads the file: QEMU
// loads a flipped byte in guest RAM without a word. A SumError (an
// ErrSnapshotSum) says the state must not be used; other errors are
// ctx's, or the file's that cannot be read.
func CheckSnapshot(ctx context.Context, path string) error {
	b, err := os.ReadFile(path + SumSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return &SumError{path, "the snapshot " + path + " has no checksum record"}
	} else if err != nil {
		return fmt.Errorf("read the snapshot's checksum record: %w", err)
	}
	want, ok := parseSumRecord(b)
	if !ok {
		return &SumError{path, fmt.Sprintf("the snapshot %s has a partial or malformed checksum record (%q)", path, b)}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check the snapshot: %w", err)
	}
	if fi.Size() != want.size {
		return &SumError{path, fmt.Sprintf("the checksum of %s did not match: the file has %d bytes, its record %s", path, fi.Size(), want)}
	}
	got, err := sumFile(ctx, path)
	if err != nil {
		return err
	}
	if got != want {
		return &SumError{path, fmt.Sprintf("the checksum of %s did not match: the file has %s, its record %s", path, got, want)}
	}
	return nil
}
