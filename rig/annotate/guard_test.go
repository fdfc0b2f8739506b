package annotate

import (
	"bytes"
	"strings"
	"testing"
)

// Between Guard and resume GitHub reads no command; resume names the
// token Guard stopped them with, once, and tokens differ between runs.
func TestGuard(t *testing.T) {
	var buf bytes.Buffer
	resume, err := Guard(&buf)
	if err != nil {
		t.Fatal(err)
	}
	buf.WriteString("::stop-commands::forged\n::error file=x.c,line=1::forged\n")
	resume()
	resume()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want stop, the guest's two and one resume:\n%s", len(lines), buf.String())
	}
	token, ok := strings.CutPrefix(lines[0], "::stop-commands::")
	if !ok || len(token) < 32 {
		t.Fatalf("first line %q: want ::stop-commands:: with a random token", lines[0])
	}
	if lines[3] != "::"+token+"::" {
		t.Errorf("last line %q: want ::%s::", lines[3], token)
	}
	var other bytes.Buffer
	if _, err := Guard(&other); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(other.String(), token) {
		t.Error("two guards share a token")
	}
}
