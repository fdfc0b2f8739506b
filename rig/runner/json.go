package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// Report is the machine-readable form of a Result, as -json writes it.
type Report struct {
	Class         verdict.Class   `json:"class"`
	ExitCode      int             `json:"exit_code"`
	Title         string          `json:"title,omitempty"`
	Step          string          `json:"step,omitempty"`
	Message       string          `json:"message,omitempty"`
	Excerpt       string          `json:"excerpt,omitempty"`
	Nonce         string          `json:"nonce,omitempty"`
	Kernel        string          `json:"kernel"`
	Arch          string          `json:"arch"`
	Accel         string          `json:"accel"`
	AccelReason   string          `json:"accel_reason"`
	Stages        []StageReport   `json:"stages"`
	BootToInit    float64         `json:"boot_to_init_seconds"`
	BootToReady   float64         `json:"boot_to_ssh_ready_seconds,omitempty"`
	BootToVerdict float64         `json:"boot_to_verdict_seconds"`
	Cases         []CaseReport    `json:"cases,omitempty"`
	ContractTime  float64         `json:"contract_seconds,omitempty"`
	Output        []string        `json:"output"`
	Exec          *ExecReport     `json:"exec,omitempty"`
	Coverage      *CoverageReport `json:"coverage,omitempty"`
	ArtifactDir   string          `json:"artifact_dir"`
	ConsoleLog    string          `json:"console_log"`
	// SkippedCount counts the cases that were skipped, which a passing
	// run's PASS line counts too; SkippedCases names each with its reason.
	SkippedCount int          `json:"skipped_count"`
	SkippedCases []SkipReport `json:"skipped_cases,omitempty"`
}

// CoverageReport is the module's line coverage.
type CoverageReport struct {
	Files []FileCoverageReport `json:"files"`
	LCOV  string               `json:"lcov"`
	HTML  string               `json:"html"`
}

// FileCoverageReport is one source file's coverage.
type FileCoverageReport struct {
	File           string  `json:"file"`
	Summary        string  `json:"summary"`
	LinePercent    float64 `json:"line_percent"`
	LinesHit       int     `json:"lines_hit"`
	LinesFound     int     `json:"lines_found"`
	FunctionsHit   int     `json:"functions_hit"`
	FunctionsFound int     `json:"functions_found"`
	Uncovered      []int   `json:"uncovered_lines,omitempty"`
}

// ExecReport is how the Exec command ended.
type ExecReport struct {
	Exit   int    `json:"exit"`
	Signal string `json:"signal,omitempty"`
	Error  string `json:"error,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// CaseReport is one case: of the contract, or of an author's guest test.
type CaseReport struct {
	Suite       string   `json:"suite,omitempty"`
	Name        string   `json:"name"`
	Result      string   `json:"result"`
	Reason      string   `json:"reason,omitempty"`
	Diagnostics []string `json:"diagnostics,omitempty"`
	Seconds     float64  `json:"seconds"`
}

// SkipReport is a skipped case and why: Why is the reason's headline, as
// the PASS line shows it ("no write()"), Reason the whole reason.
type SkipReport struct {
	Suite  string `json:"suite,omitempty"`
	Name   string `json:"name"`
	Why    string `json:"why"`
	Reason string `json:"reason"`
}

// CaseCount says how many cases ran and which were skipped, as a PASS line
// shows it: "7 cases", or "7 cases, 1 skipped: user_kernel_agree (no
// write())".
func CaseCount(cases []wire.Case) string {
	var skipped []string
	for _, c := range cases {
		if c.Result == wire.Skip {
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

// StageReport is one stage's time.
type StageReport struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
	Cached  bool    `json:"cached"`
	Failed  bool    `json:"failed,omitempty"`
}

// Report converts the result.
func (r Result) Report() Report {
	rep := Report{
		Class:         r.Class,
		ExitCode:      r.Class.ExitCode(),
		Title:         r.Title,
		Step:          r.Step,
		Nonce:         r.Nonce,
		Kernel:        r.Kernel,
		Arch:          r.Arch,
		Accel:         r.Accel.Name,
		AccelReason:   r.Accel.Reason,
		BootToInit:    r.BootToInit.Seconds(),
		ContractTime:  r.ContractTime.Seconds(),
		BootToReady:   r.BootToReady.Seconds(),
		BootToVerdict: r.BootToVerdict.Seconds(),
		Output:        r.Output,
		ArtifactDir:   r.ArtifactDir,
		ConsoleLog:    filepath.Join(r.ArtifactDir, "console.log"),
		Stages:        []StageReport{},
	}
	if r.Err != nil {
		rep.Message, rep.Excerpt = r.Err.Msg, r.Err.Excerpt
		if r.Err.Err != nil {
			rep.Message += ": " + r.Err.Err.Error()
		}
	}
	if c := r.Coverage; c != nil {
		rep.Coverage = &CoverageReport{LCOV: c.LCOV, HTML: c.HTML}
		for _, f := range c.Files {
			pct := 0.0
			if f.LinesFound > 0 {
				pct = 100 * float64(f.LinesHit) / float64(f.LinesFound)
			}
			rep.Coverage.Files = append(rep.Coverage.Files, FileCoverageReport{File: f.File, Summary: f.String(), LinePercent: pct,
				LinesHit: f.LinesHit, LinesFound: f.LinesFound, FunctionsHit: f.FunctionsHit, FunctionsFound: f.FunctionsFound, Uncovered: f.Uncovered})
		}
	}
	if r.Exec != nil {
		rep.Exec = &ExecReport{Exit: r.Exec.Exit, Signal: r.Exec.Signal, Error: r.Exec.Err, Stderr: r.Exec.Stderr}
	}
	for _, c := range r.Cases {
		rep.Cases = append(rep.Cases, CaseReport{Suite: c.Suite, Name: c.Name, Result: string(c.Result), Reason: c.Reason, Diagnostics: c.Diagnostics, Seconds: c.Time.Seconds()})
		if c.Result == wire.Skip {
			rep.SkippedCount++
			rep.SkippedCases = append(rep.SkippedCases, SkipReport{Suite: c.Suite, Name: c.Name, Why: wire.SkipHeadline(c.Reason), Reason: c.Reason})
		}
	}
	for _, s := range r.Stages {
		rep.Stages = append(rep.Stages, StageReport{Stage: s.Stage, Seconds: s.Duration.Seconds(), Cached: s.Cached, Failed: s.Failed})
	}
	return rep
}

// WriteJSON writes the report to path, atomically.
func (r Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r.Report(), "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the JSON report: %w", err)
	}
	return os.Rename(tmp, path)
}
