package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mmaprig/mmaprig/internal/cache"
)

// artifactMarker marks a directory as the artifacts of a rig run.
const artifactMarker = ".mmaprig-artifacts"

// PrepareArtifacts makes dir ready for a run's artifacts, so that nothing
// in it can be taken for this run's: a new or empty directory is used as
// it is; one that holds an earlier run's artifacts is moved to DIR.prev
// (replacing an older one), which it returns; any other non-empty
// directory is refused.
func PrepareArtifacts(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("-artifacts %s: %w", dir, err)
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, artifactMarker)); err != nil {
			return "", fmt.Errorf("-artifacts %s holds files that are not a rig run's artifacts; give a new or empty directory", dir)
		}
		prev := dir + ".prev"
		if err := os.RemoveAll(prev); err != nil {
			return "", fmt.Errorf("-artifacts: remove the older run's %s: %w", prev, err)
		}
		if err := os.Rename(dir, prev); err != nil {
			return "", fmt.Errorf("-artifacts: move the earlier run's artifacts aside: %w", err)
		}
		if err := mark(dir); err != nil {
			return "", err
		}
		return prev, nil
	}
	return "", mark(dir)
}

func mark(dir string) error {
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, artifactMarker), nil, 0o644)
	}
	if he := cache.WriteFault(dir, err); he != nil {
		he.Move = "-artifacts"
		return fmt.Errorf("-artifacts: %s: %w", he.Title(), he)
	}
	if err != nil {
		return fmt.Errorf("-artifacts %s: %w", dir, err)
	}
	return nil
}
