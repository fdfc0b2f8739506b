// Package result is the rig's one result type. A run and a matrix both
// produce a Document, a list of cells (a single run is a matrix of one
// cell); -json writes it as it is, and the terminal, JUnit, HTML and the
// job summary all render from it. Its JSON form is a versioned schema,
// documented in docs/result.md: fields are only added within a version.
package result

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// Schema is the version of the JSON form. It changes when a field
// changes its meaning or goes away, never when one is added.
const Schema = 1

// Document is what a run or a matrix found.
type Document struct {
	Schema int    `json:"schema"`
	Cells  []Cell `json:"cells"`
}

// NewDocument wraps cells in a Document of the current schema.
func NewDocument(cells []Cell) Document {
	if cells == nil {
		cells = []Cell{}
	}
	return Document{Schema: Schema, Cells: cells}
}

// Cell is one cell of a matrix, or the single run.
type Cell struct {
	Name string `json:"cell"`
	// Expect is the class the cell must end in.
	Expect verdict.Class `json:"expect"`
	// Skipped says why the cell did not run; empty if it ran.
	Skipped string `json:"skipped,omitempty"`
	// OK is whether the cell ended as expected (or was skipped).
	OK bool `json:"ok"`
	// Wall is the cell's whole run time.
	Wall   Seconds `json:"wall_seconds"`
	Result Run     `json:"result"`
}

// NewCell records a finished cell.
func NewCell(name string, expect verdict.Class, run Run, wall time.Duration) Cell {
	return Cell{Name: name, Expect: expect, OK: run.Class == expect, Result: run, Wall: Seconds(wall)}
}

// SkippedCell records a cell that did not run.
func SkippedCell(name string, expect verdict.Class, why string) Cell {
	return Cell{Name: name, Expect: expect, Skipped: why, OK: true}
}

// Seconds is a duration that JSON holds as seconds, a float.
type Seconds time.Duration

// D is the duration.
func (s Seconds) D() time.Duration { return time.Duration(s) }

// Seconds is the duration in seconds.
func (s Seconds) Seconds() float64 { return time.Duration(s).Seconds() }

// MarshalJSON writes seconds, to the millisecond or finer.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', -1, 64)), nil
}

// UnmarshalJSON reads seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("seconds: %w", err)
	}
	*s = Seconds(f * float64(time.Second))
	return nil
}

// Run is one run's result: how it ended, what it went through, and
// where its artifacts are.
type Run struct {
	Class    verdict.Class `json:"class"`
	ExitCode int           `json:"exit_code"`
	// Title names the failure in a few stable words (a crash title names
	// the guilty function); empty for a pass.
	Title string `json:"title,omitempty"`
	// Step is the plan step a failure is about.
	Step string `json:"step,omitempty"`
	// Message says what failed and what to do next; Cause is the error
	// underneath, when there is one.
	Message string `json:"message,omitempty"`
	Cause   string `json:"cause,omitempty"`
	// Excerpt is the console or build log around the failure.
	Excerpt string `json:"excerpt,omitempty"`
	// Crash is the kernel's report, for a guest crash.
	Crash *verdict.Crash `json:"crash,omitempty"`
	// Build are the module build's located errors and warnings (the
	// compiler's and modpost's), the files by their absolute paths: what
	// a CI annotation puts on the diff.
	Build []Diagnostic `json:"build_diagnostics,omitempty"`
	// Module names the module under test (its .ko without the suffix);
	// empty when the build made none.
	Module string `json:"module,omitempty"`
	// Nonce is the run's nonce, which every guest event carried.
	Nonce string `json:"nonce,omitempty"`
	// Kernel names where the kernel came from; Origin says which one.
	Kernel string  `json:"kernel"`
	Origin *Origin `json:"kernel_origin,omitempty"`
	// Arch is the guest's architecture, as uname -m says it.
	Arch        string `json:"arch"`
	Accel       string `json:"accel"`
	AccelReason string `json:"accel_reason"`
	// IdleSkipped says the guest's clock jumped over its idle time (TCG's
	// -icount sleep=off): its own durations (a case's time, the settle
	// window) are guest time, which ran ahead of the host's while it
	// idled and may lag it while it is busy.
	IdleSkipped bool `json:"idle_skipped,omitempty"`
	// Settled is the settle window the guest kept after the final unload,
	// and why: "1.1s", or "100ms: nothing of the module's armed (...)"
	// when the kernel's event tracing let it end early.
	Settled string `json:"settled,omitempty"`
	// Boot is how the guest came up; nil when it did not start.
	Boot   *Boot   `json:"boot,omitempty"`
	Stages []Stage `json:"stages"`
	// BootToInit is from QEMU's start to the guest init's hello,
	// BootToReady to its SSH server listening (SSH channel), BootToVerdict
	// to the verdict.
	BootToInit    Seconds `json:"boot_to_init_seconds"`
	BootToReady   Seconds `json:"boot_to_ssh_ready_seconds,omitempty"`
	BootToVerdict Seconds `json:"boot_to_verdict_seconds"`
	// Output is what the reader (or the exec command) printed.
	Output []string `json:"output"`
	// Cases are the contract's and the guest tests' cases, in order.
	Cases []Case `json:"cases,omitempty"`
	// Run is -run's regexp, which selected the contract's cases and the
	// Go guest tests' among all of them; empty when every case ran.
	Run string `json:"run,omitempty"`
	// ContractTime is how long the contract program ran in the guest.
	ContractTime Seconds `json:"contract_seconds,omitempty"`
	// SkippedCount counts the skipped cases, which a PASS line names.
	SkippedCount int       `json:"skipped_count"`
	Exec         *Exec     `json:"exec,omitempty"`
	Coverage     *Coverage `json:"coverage,omitempty"`
	ArtifactDir  string    `json:"artifact_dir"`
	ConsoleLog   string    `json:"console_log"`
}

// Verdict is the failure's message with its cause, in a line; empty for a
// pass.
func (r Run) Verdict() string {
	if r.Cause == "" {
		return r.Message
	}
	return r.Message + ": " + r.Cause
}

// Origin is which kernel ran: its source, release and cache key, and how
// this run got it.
type Origin struct {
	Source string `json:"source"`
	// Kind is the kind of place it came from: one of kernel's Origin*
	// constants ("debian-source", "debian-prebuilt", "tarball", "url",
	// "tree", "git"). Empty in documents written before it was added.
	Kind string `json:"kind,omitempty"`
	// Commit is the commit built, for a source that moves (a git ref).
	Commit    string   `json:"commit,omitempty"`
	Release   string   `json:"release,omitempty"`
	Key       string   `json:"key,omitempty"`
	Fragments []string `json:"fragments,omitempty"`
	// Built is true when this run built (or fetched) it, false for a
	// cached kernel.
	Built bool `json:"built"`
	// How is how this run got it: HowBuilt, HowDownloaded or HowCached.
	How string `json:"how,omitempty"`
	// Time is the kernel stage's: the build, the download or the cache
	// lookup.
	Time Seconds `json:"seconds"`
	// Summary is String's phrase, for readers of the JSON.
	Summary string `json:"summary,omitempty"`
}

// How this run got its kernel.
const (
	HowBuilt      = "built"
	HowDownloaded = "downloaded" // a prebuilt kernel, fetched by this run
	HowCached     = "cached"
)

// How says how a run got a kernel of the given kind: fresh is whether
// the run built or fetched it rather than finding it in the cache. A
// prebuilt kernel is downloaded, not built.
func How(kind string, fresh bool) string {
	switch {
	case !fresh:
		return HowCached
	case kind == kernel.OriginDebianPrebuilt:
		return HowDownloaded
	}
	return HowBuilt
}

// String says in a short phrase where the kernel came from, its version,
// and how this run got it: "Debian linux-source-6.1 6.1.192, built in
// 11m32s", "Debian prebuilt 6.1.0-28-cloud-amd64, downloaded in 9.8s",
// "git 1a2b3c4d5e6f 6.19.0-rc1, cached".
func (o Origin) String() string {
	s := o.where()
	if o.Release != "" {
		s += " " + o.Release
	}
	how := o.How
	if how == "" { // a document from before How
		how = How("", o.Built)
	}
	if how == HowCached || o.Time <= 0 {
		return s + ", " + how
	}
	return s + ", " + how + " in " + progress.FormatDuration(o.Time.D())
}

// where names the kernel's source in a few words.
func (o Origin) where() string {
	switch o.Kind {
	case kernel.OriginDebianSource:
		return "Debian " + strings.TrimPrefix(o.Source, "Debian package ")
	case kernel.OriginDebianPrebuilt:
		return "Debian prebuilt"
	case kernel.OriginTarball:
		return "tarball " + filepath.Base(strings.TrimPrefix(o.Source, "tarball "))
	case kernel.OriginURL:
		return "tarball " + path.Base(o.Source)
	case kernel.OriginTree:
		return o.Source
	}
	if o.Commit != "" { // a git source, or another that moves
		return o.Kind + " " + ShortCommit(o.Commit)
	}
	return o.Source
}

// ShortCommit is a commit's first 12 hex digits, as reports show it.
func ShortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// The ways a guest comes up.
const (
	BootCold     = "cold"
	BootRestored = "restored"
)

// Boot is how the guest came up.
type Boot struct {
	// Mode is BootCold or BootRestored.
	Mode string `json:"mode"`
	// Took is from QEMU's start to a guest ready for work.
	Took Seconds `json:"seconds"`
	// Saved says a snapshot of this boot was saved for later runs;
	// SaveError why one was not.
	Saved     bool   `json:"snapshot_saved,omitempty"`
	SaveError string `json:"snapshot_save_error,omitempty"`
	// RestoreFailed says why a saved guest did not come back, before
	// this cold boot.
	RestoreFailed string `json:"restore_failed,omitempty"`
}

// Stage is one stage of a run.
type Stage struct {
	Stage string  `json:"stage"`
	Time  Seconds `json:"seconds"`
	// Cached is true when the stage reused a cache entry.
	Cached bool `json:"cached"`
	// Failed is true for the stage the run failed in.
	Failed bool `json:"failed,omitempty"`
	// Summary is the stage's line: what it did, in a few words.
	Summary string `json:"summary,omitempty"`
	// Warnings are the stage's warnings (the module's W=1 warnings).
	Warnings []string `json:"warnings,omitempty"`
}

// Case is one case of the contract or of an author's guest test.
type Case struct {
	Suite  string `json:"suite,omitempty"`
	Name   string `json:"name"`
	Result string `json:"result"`
	// Reason is why the case was skipped, or the failure's summary; Why
	// is a skip reason's headline ("no write()").
	Reason      string   `json:"reason,omitempty"`
	Why         string   `json:"why,omitempty"`
	Diagnostics []string `json:"diagnostics,omitempty"`
	// File and Line are where a failed case failed, when its output
	// says (a Go test's "x_test.go:12: ..."): the file in the author's
	// tree, by its absolute path.
	File string  `json:"file,omitempty"`
	Line int     `json:"line,omitempty"`
	Time Seconds `json:"seconds"`
}

// Diagnostic is a located message of the module's build.
type Diagnostic struct {
	// Severity is "error" or "warning".
	Severity string `json:"severity"`
	// Tool is "compiler", or the kbuild tool that said it ("modpost").
	Tool string `json:"tool"`
	// File is an absolute path, empty when the message names none; Line
	// and Column are 0 when it names none.
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// NewCase records a case the guest reported.
func NewCase(c wire.Case) Case {
	k := Case{Suite: c.Suite, Name: c.Name, Result: string(c.Result), Reason: c.Reason,
		Diagnostics: c.Diagnostics, Time: Seconds(c.Time)}
	if c.Result == wire.Skip {
		k.Why = wire.SkipHeadline(c.Reason)
	}
	return k
}

// Exec is how the exec command ended.
type Exec struct {
	Exit   int    `json:"exit"`
	Signal string `json:"signal,omitempty"`
	Error  string `json:"error,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// Coverage is the module's line coverage.
type Coverage struct {
	Files []FileCoverage `json:"files"`
	// LCOV and HTML are the reports in the artifact directory.
	LCOV string `json:"lcov"`
	HTML string `json:"html"`
}

// FileCoverage is one source file's coverage, as lcov counts it.
type FileCoverage struct {
	File           string `json:"file"`
	LinesHit       int    `json:"lines_hit"`
	LinesFound     int    `json:"lines_found"`
	FunctionsHit   int    `json:"functions_hit"`
	FunctionsFound int    `json:"functions_found"`
	// Uncovered are the line numbers lcov found but no run hit.
	Uncovered []int `json:"uncovered_lines,omitempty"`
	// Summary is String's line, LinePercent the lines hit in percent:
	// for readers of the JSON.
	Summary     string  `json:"summary"`
	LinePercent float64 `json:"line_percent"`
}

// Summarize fills in Summary and LinePercent from the counts.
func (f *FileCoverage) Summarize() {
	f.Summary, f.LinePercent = f.String(), 0
	if f.LinesFound > 0 {
		f.LinePercent = 100 * float64(f.LinesHit) / float64(f.LinesFound)
	}
}

// String is the one-line summary: "mymap.c 94.1% lines (113/120), 100%
// functions".
func (f FileCoverage) String() string {
	return fmt.Sprintf("%s %s lines (%d/%d), %s functions", filepath.Base(f.File),
		percent(f.LinesHit, f.LinesFound), f.LinesHit, f.LinesFound, percent(f.FunctionsHit, f.FunctionsFound))
}

func percent(hit, found int) string {
	if found == 0 {
		return "-"
	}
	p := 100 * float64(hit) / float64(found)
	if p == float64(int(p)) {
		return fmt.Sprintf("%d%%", int(p))
	}
	return fmt.Sprintf("%.1f%%", p)
}

// CaseCount says how many cases ran and which were skipped, as a PASS line
// shows it: "7 cases", or "7 cases, 1 skipped: user_kernel_agree (no
// write())".
func CaseCount(cases []Case) string {
	var skipped []string
	for _, c := range cases {
		if c.Result == string(wire.Skip) {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", c.Name, wire.SkipHeadline(c.Reason)))
		}
	}
	word := "cases"
	if len(cases) == 1 {
		word = "case"
	}
	s := fmt.Sprintf("%d %s", len(cases), word)
	if skipped != nil {
		s += fmt.Sprintf(", %d skipped: %s", len(skipped), strings.Join(skipped, ", "))
	}
	return s
}
