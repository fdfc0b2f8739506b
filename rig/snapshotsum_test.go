package main

// The snapshot's checksum: QEMU loads a saved guest whose RAM has a
// flipped byte without a word, so the rig checks the file against the
// CRC32C recorded when it was saved, before QEMU reads it.

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// QEMU's RAM stream (migration/ram.c, QEMU 7.2): each page is a big-endian
// 64-bit word, its offset in the RAM block OR'ed with flags in the low
// bits, then 4096 bytes for a page sent whole, or one byte for a page of
// zeros. CONTINUE means the same block as the page before, so no block
// name follows.
const (
	ramFlagZero     = 0x02
	ramFlagPage     = 0x08
	ramFlagContinue = 0x20
	ramPageSize     = 4096
)

// ramPageRecord reports whether b[at:] starts a run of n page records in
// the same block, at least one a whole page, all within a guest of memMB,
// and returns the offset of the first whole page's data.
func ramPageRecord(b []byte, at, n, memMB int) (int, bool) {
	data := -1
	for range n {
		if at+8 > len(b) {
			return 0, false
		}
		h := binary.BigEndian.Uint64(b[at:])
		if h&^0xfff >= uint64(memMB)<<20 {
			return 0, false
		}
		switch h & 0xfff {
		case ramFlagPage | ramFlagContinue:
			if data < 0 {
				data = at + 8
			}
			at += 8 + ramPageSize
		case ramFlagZero | ramFlagContinue:
			if at+8 < len(b) && b[at+8] != 0 {
				return 0, false
			}
			at += 8 + 1
		default:
			return 0, false
		}
	}
	return data, data >= 0 && at <= len(b)
}

// guestRAMByte finds, from the middle of a saved guest on, a byte in the
// middle of a page of guest RAM: the page's record is the first of eight
// well-formed page records in a row, which random bytes would not make.
// QEMU copies such a byte into guest RAM as it is.
func guestRAMByte(t *testing.T, b []byte, memMB int) int {
	t.Helper()
	for at := len(b) / 2; at+8 < len(b); at++ {
		if data, ok := ramPageRecord(b, at, 8, memMB); ok {
			return data + ramPageSize/2
		}
	}
	t.Fatal("no run of RAM page records in the second half of the saved guest; has QEMU's stream format changed?")
	return 0
}

// bootCached reports whether the run's boot stage restored a snapshot.
func bootCached(t *testing.T, rep *result.Run) bool {
	t.Helper()
	for _, s := range rep.Stages {
		if s.Stage == "boot" {
			return s.Cached
		}
	}
	t.Fatal("the report has no boot stage")
	return false
}

// A flipped byte inside the guest's RAM in the saved snapshot is caught by
// the checksum before QEMU reads the file: the run says so, naming the
// file, boots cold, passes, and saves a good snapshot. The same flipped
// file with a checksum made to match is one QEMU restores without a word.
func TestSnapshotChecksumCatchesFlippedByte(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	cache := freshCache(t, true)
	linkInto(t, cache, "initramfs")
	args := []string{"-cache", cache, "-checks", "reader"}
	// Others may edit the guest's sources while this runs, which gives the
	// machine a new snapshot key: then the run after the flip never saw
	// the flipped file, and the test starts again.
	for attempt := 1; ; attempt++ {
		state, flipped := warmAndFlip(t, args, cache)
		r := runRig(t, args...)
		if snapshotStates(cache)[0] != state {
			if attempt == 3 {
				t.Fatal("the machine's snapshot key changed under the test three times")
			}
			t.Logf("the machine changed (a new snapshot key); starting again")
			os.RemoveAll(filepath.Join(cache, "snapshot"))
			continue
		}
		wantCaught(t, r, state)
		wouldLoad(t, args, cache, state, flipped)
		return
	}
}

// snapshotStates are the saved guests in cache, newest first.
func snapshotStates(cache string) []string {
	states, _ := filepath.Glob(filepath.Join(cache, "snapshot", "*", "vm.state"))
	slices.SortFunc(states, func(a, b string) int {
		fa, _ := os.Stat(a)
		fb, _ := os.Stat(b)
		return fb.ModTime().Compare(fa.ModTime())
	})
	return append(states, "")
}

// warmAndFlip runs the rig once, so that it saves the machine's snapshot,
// and flips one byte of guest RAM in it. It returns the state's path and
// its flipped contents.
func warmAndFlip(t *testing.T, args []string, cache string) (string, []byte) {
	t.Helper()
	first := runRig(t, args...)
	if first.report(t).Class != verdict.Pass || !bootOf(t, first).Saved {
		t.Fatalf("the first run did not pass and save a snapshot: %s, %+v", first.rep.Class, bootOf(t, first))
	}
	state := snapshotStates(cache)[0]
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	at := guestRAMByte(t, b, 256)
	t.Logf("flipping byte %d of %d (guest RAM page data)", at, len(b))
	b[at] ^= 0x01
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return state, b
}

// wantCaught checks that run r caught the flipped state by its checksum,
// before QEMU read it, booted cold, passed, and saved a good snapshot.
func wantCaught(t *testing.T, r rigRun, state string) {
	t.Helper()
	rep := r.report(t)
	if rep.Class != verdict.Pass || r.code != 0 {
		t.Errorf("after a flipped byte: %s (exit %d): %s", rep.Class, r.code, rep.Verdict())
	}
	if want := "the checksum of " + state + " did not match"; !strings.Contains(r.out, want) {
		t.Errorf("the run did not say %q", want)
	}
	if bootCached(t, rep) || bootOf(t, r).Mode != result.BootCold || !bootOf(t, r).Saved {
		t.Errorf("the run did not boot cold and save a new snapshot: %+v", bootOf(t, r))
	}
	if _, err := os.Stat(filepath.Join(r.artifacts, "restore-qemu.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("QEMU ran on the corrupt snapshot (restore-qemu.log: %v)", err)
	}
	if err := vm.CheckSnapshot(context.Background(), state); err != nil {
		t.Errorf("the new snapshot does not check out: %v", err)
	}
}

// wouldLoad puts the flipped state back with a checksum that matches it,
// and checks that QEMU restores it: without the checksum, nothing would
// have noticed the byte.
func wouldLoad(t *testing.T, args []string, cache, state string, flipped []byte) {
	t.Helper()
	if err := os.WriteFile(state, flipped, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := vm.WriteSnapshotSum(context.Background(), state); err != nil {
		t.Fatal(err)
	}
	r := runRig(t, args...)
	if snapshotStates(cache)[0] != state {
		t.Logf("the machine changed (a new snapshot key) before the flipped state could be restored; not checked")
		return
	}
	if bootOf(t, r).Mode != result.BootRestored {
		t.Errorf("QEMU did not restore the flipped snapshot once its checksum matched, so the byte may not be in guest RAM: %+v", bootOf(t, r))
	}
}

// The page-record scan finds page data in a stream QEMU's way, and not in
// noise or past a record that breaks the run.
func TestGuestRAMByte(t *testing.T) {
	s := []byte("QEVM and a header that is not RAM")
	start := len(s)
	pages := map[int]bool{} // where each whole page's data starts
	for i := range 30 {
		flags, n := uint64(ramFlagPage|ramFlagContinue), ramPageSize
		if i%3 == 1 {
			flags, n = ramFlagZero|ramFlagContinue, 1
		} else {
			pages[len(s)+8] = true
		}
		s = binary.BigEndian.AppendUint64(s, uint64(i)<<12|flags)
		s = append(s, make([]byte, n)...)
	}
	if data, ok := ramPageRecord(s, start, 8, 256); !ok || data != start+8 {
		t.Errorf("ramPageRecord at the first record = %d, %v; want %d, true", data, ok, start+8)
	}
	if _, ok := ramPageRecord(s, start+1, 8, 256); ok {
		t.Error("a record one byte off was taken")
	}
	if _, ok := ramPageRecord(s, start, 8, 0); ok {
		t.Error("a page past the guest's memory was taken")
	}
	if _, ok := ramPageRecord(s, start, 31, 256); ok {
		t.Error("a run longer than the stream was taken")
	}
	if at := guestRAMByte(t, s, 256); !pages[at-ramPageSize/2] || at < len(s)/2 {
		t.Errorf("guestRAMByte = %d, not the middle of a whole page in the second half", at)
	}
}
