package verdict

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// A recording is a run's spec and every input the engine took, as text:
//
//	SPEC: {"channel":"serial",...}
//	+0.000131 qmp status running
//	+0.412006 console [    0.000000] Linux version 6.1.0 ...
//	+1.201887 port {"event":"hello","seq":0,"ok":true,"exit":0,"ms":990}
//	+2.803412 exit
//
// The rig writes one for every run (engine.log in the artifacts), and the
// verdict corpus is made of them, with the expected verdict as headers
// ("CLASS: ...", "TITLE: ...", "STEP: ...") and "#" comments above.

// A line of input text keeps its line ends and backslashes escaped.
var (
	escaper   = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`)
	unescaper = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r")
)

// Recorder writes a recording.
type Recorder struct {
	w   *bufio.Writer
	err error
}

// NewRecorder writes the spec's header to w.
func NewRecorder(w io.Writer, s Spec) (*Recorder, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	r := &Recorder{w: bufio.NewWriter(w)}
	fmt.Fprintf(r.w, "SPEC: %s\n", b)
	return r, r.w.Flush()
}

// Record writes one input. Errors stick and are returned by Close.
func (r *Recorder) Record(in Input) {
	if r.err != nil {
		return
	}
	_, r.err = r.w.WriteString(FormatInput(in) + "\n")
}

// Flush writes what is buffered.
func (r *Recorder) Flush() error {
	if r.err != nil {
		return r.err
	}
	return r.w.Flush()
}

// FormatInput renders an input as one recording line.
func FormatInput(in Input) string {
	s := fmt.Sprintf("+%.6f %s", in.At.Seconds(), in.Kind)
	if in.Text != "" {
		s += " " + escaper.Replace(in.Text)
	}
	return s
}

// Recording is a parsed recording.
type Recording struct {
	// Headers are the "KEY: value" lines above the inputs, SPEC included.
	Headers map[string]string
	// Comments are the "#" lines, without the "# ".
	Comments []string
	Spec     Spec
	Inputs   []Input
}

// ParseRecording reads a recording.
func ParseRecording(r io.Reader) (*Recording, error) {
	rec := &Recording{Headers: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "+"):
			in, err := parseInput(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			rec.Inputs = append(rec.Inputs, in)
		case strings.HasPrefix(line, "#"):
			rec.Comments = append(rec.Comments, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
		case strings.TrimSpace(line) == "":
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || len(rec.Inputs) > 0 || strings.ContainsAny(k, " \t") {
				return nil, fmt.Errorf("line %d: want a header (KEY: value) above the inputs, got %q", n, line)
			}
			rec.Headers[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	spec, ok := rec.Headers["SPEC"]
	if !ok {
		return nil, fmt.Errorf("no SPEC header")
	}
	if err := json.Unmarshal([]byte(spec), &rec.Spec); err != nil {
		return nil, fmt.Errorf("SPEC: %w", err)
	}
	return rec, nil
}

func parseInput(line string) (Input, error) {
	at, rest, _ := strings.Cut(line[1:], " ")
	secs, err := strconv.ParseFloat(at, 64)
	if err != nil {
		return Input{}, fmt.Errorf("bad time %q", at)
	}
	kind, text, _ := strings.Cut(rest, " ")
	if kind == "" {
		return Input{}, fmt.Errorf("no input kind in %q", line)
	}
	text = unescaper.Replace(text)
	return Input{At: time.Duration(secs * float64(time.Second)), Kind: Kind(kind), Text: text}, nil
}

// Replay feeds the inputs to a new engine and returns its verdict. A
// recording that ends before the verdict is final gets a last Tick at the
// engine's deadline, as the driver's timer would give it.
func (rec *Recording) Replay() Result {
	e := New(rec.Spec)
	var st Status
	for _, in := range rec.Inputs {
		if st = e.Feed(in); st.Done {
			return e.Result()
		}
	}
	for i := 0; !st.Done && i < 3; i++ {
		st = e.Feed(Input{At: st.Deadline, Kind: Tick})
	}
	return e.Result()
}
