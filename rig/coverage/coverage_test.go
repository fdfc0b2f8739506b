package coverage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// lcov 1.16's tracefile has no totals: lines and functions are counted
// from DA, FN and FNDA, and only the module's own files are kept.
func TestParseLCOV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lcov.info")
	os.WriteFile(path, []byte(`TN:
SF:/src/linux/include/linux/gfp.h
FN:213,warn_if_node_offline
FNDA:107,warn_if_node_offline
DA:213,107
DA:220,0
end_of_record
SF:/home/me/drv/mymap.c
FN:35,mymap_mmap
FNDA:1715,mymap_mmap
FN:113,mymap_exit
FNDA:0,mymap_exit
DA:35,1715
DA:40,1714
DA:102,0
DA:103,0
end_of_record
`), 0o644)
	files, err := parseLCOV(path, "/home/me/drv")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("files = %+v; want mymap.c only", files)
	}
	f := files[0]
	if f.LinesHit != 2 || f.LinesFound != 4 || f.FunctionsHit != 1 || f.FunctionsFound != 2 || !slices.Equal(f.Uncovered, []int{102, 103}) {
		t.Errorf("mymap.c = %+v", f)
	}
	if got := f.String(); got != "mymap.c 50% lines (2/4), 50% functions" || f.Summary != got || f.LinePercent != 50 {
		t.Errorf("summary %q (%q, %v%%)", got, f.Summary, f.LinePercent)
	}
	if _, err := parseLCOV(path, "/elsewhere"); err == nil {
		t.Error("a tracefile without the module's files parsed")
	}
}
