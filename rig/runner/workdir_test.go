package runner

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestSweepSparesNewWorkDirs races runs that make their working
// directories against runs that sweep the dead ones, as parallel runs
// do. A directory whose owner is alive must never be swept, not even in
// the moment between its owner file's creation and its lock.
func TestSweepSparesNewWorkDirs(t *testing.T) {
	tmp := t.TempDir()
	const runs = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				sweepWorkDirs(tmp)
			}
		}
	}()
	dirs := make(chan *workDir, runs)
	for i := 0; i < runs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := makeWorkDir(tmp)
			if err != nil {
				t.Error(err)
				return
			}
			dirs <- w
		}()
	}
	wg.Wait()
	close(stop)
	close(dirs)
	for w := range dirs {
		if _, err := os.Stat(filepath.Join(w.dir, ownerFile)); err != nil {
			t.Errorf("a live run's working directory was swept: %v", err)
		}
		w.finish(false, "")
	}
}

// TestSweepRemovesDeadWorkDirs checks that the sweep still does its job:
// a directory whose owner died, and which has not changed for a while,
// is removed.
func TestSweepRemovesDeadWorkDirs(t *testing.T) {
	tmp := t.TempDir()
	w, err := makeWorkDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	w.owner.Close() // the owner dies; the kernel drops its lock
	sweepWorkDirs(tmp)
	if _, err := os.Stat(w.dir); err != nil {
		t.Fatalf("a directory that died a moment ago was swept at once: %v", err)
	}
	old := time.Now().Add(-2 * sweepAge)
	os.Chtimes(filepath.Join(w.dir, ownerFile), old, old)
	sweepWorkDirs(tmp)
	if _, err := os.Stat(w.dir); !os.IsNotExist(err) {
		t.Fatalf("a dead run's old working directory was not swept: %v", err)
	}
}
