package annotate

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// Guard stops GitHub from reading workflow commands in what the rig
// prints until the returned resume is called: the run's output carries
// text the module under test controls (the console's excerpt, a guest
// program's output), and a line such as "::stop-commands::x" in it would
// silence the rig's annotations, or "::error ..." forge one. GitHub
// resumes only at "::TOKEN::", and the token is random, made on the host,
// and never given to the guest. resume is safe to call more than once.
func Guard(w io.Writer) (resume func(), err error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return func() {}, fmt.Errorf("a token for ::stop-commands::: %w", err)
	}
	token := "mmaprig-" + hex.EncodeToString(b)
	if _, err := fmt.Fprintf(w, "::stop-commands::%s\n", token); err != nil {
		return func() {}, fmt.Errorf("write ::stop-commands::: %w", err)
	}
	var once sync.Once
	return func() { once.Do(func() { fmt.Fprintf(w, "::%s::\n", token) }) }, nil
}
