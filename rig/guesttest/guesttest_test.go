package guesttest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The tests -run can select are the test files' top-level TestXxx
// functions, as go test finds them, and nothing else.
func TestTestNames(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a_test.go"), []byte(`package a
import "testing"
func TestSeed(t *testing.T) {}
func Test(t *testing.T) {}
func Test_under(t *testing.T) {}
func Testlower(t *testing.T) {}
func TestHelper() {}
func BenchmarkSeed(b *testing.B) {}
type s struct{}
func (s) TestMethod(t *testing.T) {}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "b_test.go"), []byte("package a_test\nimport \"testing\"\nfunc TestÜber(t *testing.T) {}\n"), 0o644)
	got, err := testNames(dir, []string{"a_test.go", "b_test.go"})
	if want := []string{"TestSeed", "Test", "Test_under", "TestÜber"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("testNames = %q, %v; want %q", got, err, want)
	}
	if _, err := testNames(dir, []string{"missing_test.go"}); err == nil {
		t.Error("testNames of a missing file: no error")
	}
}
