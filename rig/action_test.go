package main

// Tests of the composite action (action.yml at the repository root).
// actionlint checks how the workflows use it, but not the action itself:
// TestActionSchema checks its metadata and scripts, and TestActionRuns
// runs its scripts for one cell, as a runner would.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

const actionFile = "../action.yml"

// action is the part of a composite action's metadata the tests read.
type action struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Inputs      map[string]struct {
		Description string  `yaml:"description"`
		Default     *string `yaml:"default"`
		Required    bool    `yaml:"required"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
		Value       string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

// actionStep is one step of a composite action.
type actionStep struct {
	Name  string            `yaml:"name"`
	ID    string            `yaml:"id"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
	With  map[string]string `yaml:"with"`
	// WorkingDirectory is refused: in a container job, an expression
	// there names the host's path, not the container's.
	WorkingDirectory string `yaml:"working-directory"`
}

func loadAction(t *testing.T) action {
	t.Helper()
	b, err := os.ReadFile(actionFile)
	if err != nil {
		t.Fatal(err)
	}
	var a action
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return a
}

var (
	// expression is a ${{ ... }} expression.
	expression = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)
	// inputRef and stepRef are the references an expression can make.
	inputRef = regexp.MustCompile(`\binputs\.([A-Za-z0-9_-]+)`)
	stepRef  = regexp.MustCompile(`\bsteps\.([A-Za-z0-9_-]+)\.(outputs\.([A-Za-z0-9_-]+)|outcome|conclusion)`)
	// outputLine finds the outputs a script writes: echo "name=...".
	outputLine = regexp.MustCompile(`(?m)^\s*echo "([A-Za-z0-9_-]+)=`)
	// ifTerm is a condition the test can evaluate: inputs.X == 'v'.
	ifTerm = regexp.MustCompile(`^(inputs\.[A-Za-z0-9_-]+) (==|!=) '([^']*)'$`)
)

// stepText is everything in a step that may hold an expression.
func (s actionStep) stepText() string {
	parts := []string{s.If, s.Uses, s.Run}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		parts = append(parts, s.Env[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.With)) {
		parts = append(parts, s.With[k])
	}
	return strings.Join(parts, "\n")
}

func (s actionStep) label(i int) string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("step %d", i+1)
}

// action.yml is a composite action whose every reference resolves: run
// steps name their shell, inputs are declared, outputs and later steps
// read the outputs of steps that exist (and, for scripts, write them),
// scripts take inputs through env rather than spliced into their text,
// and every script parses with bash -n (and passes shellcheck, where it
// is installed).
func TestActionSchema(t *testing.T) {
	a := loadAction(t)
	if a.Name == "" || a.Description == "" {
		t.Error("action.yml needs a name and a description")
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("runs.using = %q, want composite", a.Runs.Using)
	}
	for name, in := range a.Inputs {
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
		if in.Default == nil && !in.Required {
			t.Errorf("input %s is optional but has no default", name)
		}
	}
	for _, want := range []string{"module", "cells", "kernel", "config", "checks", "channel", "guest-test", "artifacts", "go-version"} {
		if _, ok := a.Inputs[want]; !ok {
			t.Errorf("action.yml has no input %s", want)
		}
	}

	// writes holds what each step id can output; nil for a uses: step,
	// whose outputs are its action's business.
	writes := map[string][]string{}
	for i, s := range a.Runs.Steps {
		name := s.label(i)
		switch {
		case (s.Run == "") == (s.Uses == ""):
			t.Errorf("%s: a step has either run or uses", name)
		case s.Run != "" && s.Shell == "":
			t.Errorf("%s: a composite run step needs shell", name)
		case s.Run != "" && strings.Contains(s.Run, "${{"):
			t.Errorf("%s: the script splices an expression into its text; pass it through env", name)
		case s.WorkingDirectory != "":
			t.Errorf("%s: working-directory holds a host path in container jobs; cd to $GITHUB_ACTION_PATH instead", name)
		}
		for _, m := range inputRef.FindAllStringSubmatch(s.stepText(), -1) {
			if _, ok := a.Inputs[m[1]]; !ok {
				t.Errorf("%s: inputs.%s is not declared", name, m[1])
			}
		}
		for _, m := range stepRef.FindAllStringSubmatch(s.stepText(), -1) {
			out, ok := writes[m[1]]
			switch {
			case !ok:
				t.Errorf("%s: steps.%s is not an earlier step's id", name, m[1])
			case m[3] != "" && out != nil && !slices.Contains(out, m[3]):
				t.Errorf("%s: step %s does not write output %s", name, m[1], m[3])
			}
		}
		if s.ID != "" {
			if _, dup := writes[s.ID]; dup {
				t.Errorf("%s: id %s is taken", name, s.ID)
			}
			writes[s.ID] = nil
			if s.Run != "" {
				writes[s.ID] = []string{}
				for _, m := range outputLine.FindAllStringSubmatch(s.Run, -1) {
					writes[s.ID] = append(writes[s.ID], m[1])
				}
			}
		}
	}
	for name, out := range a.Outputs {
		if out.Description == "" {
			t.Errorf("output %s has no description", name)
		}
		refs := stepRef.FindAllStringSubmatch(out.Value, -1)
		if len(refs) != 1 || !expression.MatchString(out.Value) {
			t.Errorf("output %s = %q: want one step's output, as ${{ steps.ID.outputs.NAME }}", name, out.Value)
			continue
		}
		if w, ok := writes[refs[0][1]]; !ok {
			t.Errorf("output %s refers to step %s, which does not exist", name, refs[0][1])
		} else if w != nil && !slices.Contains(w, refs[0][3]) {
			t.Errorf("output %s: step %s does not write %s", name, refs[0][1], refs[0][3])
		}
	}
	for _, want := range []string{"verdict", "class", "exit-code"} {
		if _, ok := a.Outputs[want]; !ok {
			t.Errorf("action.yml has no output %s", want)
		}
	}

	shellcheck, _ := exec.LookPath("shellcheck")
	for i, s := range a.Runs.Steps {
		if s.Run == "" {
			continue
		}
		if out, err := runWithStdin(s.Run, "bash", "-n"); err != nil {
			t.Errorf("%s: bash -n: %v\n%s", s.label(i), err, out)
		}
		// SC2164 (cd without || exit) does not apply: the runner runs
		// scripts with bash -e.
		if shellcheck != "" {
			if out, err := runWithStdin(s.Run, shellcheck, "-s", "bash", "-e", "SC2164", "-"); err != nil {
				t.Errorf("%s: shellcheck: %v\n%s", s.label(i), err, out)
			}
		}
	}
	if shellcheck == "" {
		t.Log("shellcheck is not installed; the scripts were checked with bash -n only")
	}
}

func runWithStdin(stdin string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd.CombinedOutput()
}

// actionRun runs an action's scripts the way a runner does, for a test.
type actionRun struct {
	t    *testing.T
	a    action
	root string // GITHUB_ACTION_PATH and GITHUB_WORKSPACE
	tmp  string
	// inputs are the given inputs; the others take their defaults.
	inputs  map[string]string
	outputs map[string]map[string]string // by step id
	summary string                       // GITHUB_STEP_SUMMARY
	// noHTML is set when the rig has no -html flag yet.
	noHTML bool
}

// eval substitutes one expression the action's scripts and env use.
func (r *actionRun) eval(expr string) string {
	if m := inputRef.FindStringSubmatch(expr); m != nil && m[0] == expr {
		if v, ok := r.inputs[m[1]]; ok {
			return v
		}
		if d := r.a.Inputs[m[1]].Default; d != nil {
			return *d
		}
		return ""
	}
	if m := stepRef.FindStringSubmatch(expr); m != nil && m[0] == expr && m[3] != "" {
		return r.outputs[m[1]][m[3]]
	}
	switch expr {
	case "github.action_path", "github.workspace":
		return r.root
	case "runner.os":
		return "Linux"
	case "runner.temp":
		return r.tmp
	}
	r.t.Fatalf("the test cannot evaluate ${{ %s }}; teach actionRun.eval", expr)
	return ""
}

func (r *actionRun) substitute(s string) string {
	return expression.ReplaceAllStringFunc(s, func(e string) string {
		return r.eval(expression.FindStringSubmatch(e)[1])
	})
}

// cond evaluates a step's if: the conditions run steps use, inputs
// compared with a literal and joined by &&.
func (r *actionRun) cond(s actionStep) bool {
	if s.If == "" {
		return true
	}
	for _, c := range strings.Split(s.If, "&&") {
		m := ifTerm.FindStringSubmatch(strings.TrimSpace(c))
		if m == nil {
			r.t.Fatalf("%s: the test cannot evaluate if: %s", s.Name, s.If)
		}
		if (r.eval(m[1]) == m[3]) != (m[2] == "==") {
			return false
		}
	}
	return true
}

// step runs one run: step with bash, as the runner does, and records the
// outputs it writes. It returns the script's exit status.
func (r *actionRun) step(ctx context.Context, s actionStep) int {
	r.t.Helper()
	script := filepath.Join(r.tmp, "step.sh")
	if err := os.WriteFile(script, []byte(s.Run), 0o644); err != nil {
		r.t.Fatal(err)
	}
	out := filepath.Join(r.tmp, "output-"+s.ID)
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Dir = r.root
	cmd.Env = append(os.Environ(),
		"GITHUB_ACTIONS=true",
		"GITHUB_ACTION_PATH="+r.root,
		"GITHUB_WORKSPACE="+r.root,
		"GITHUB_OUTPUT="+out,
		"GITHUB_STEP_SUMMARY="+r.summary,
		"RUNNER_TEMP="+r.tmp,
	)
	for k, v := range s.Env {
		cmd.Env = append(cmd.Env, k+"="+r.substitute(v))
	}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("%s: %v", s.Name, err)
	}
	r.t.Logf("step %q: exit %d in %v\n%s", s.Name, code, time.Since(start).Round(time.Millisecond), log.String())
	if s.ID != "" {
		r.outputs[s.ID] = readOutputs(r.t, out)
	}
	return code
}

// readOutputs parses a GITHUB_OUTPUT file of name=value lines.
func readOutputs(t *testing.T, path string) map[string]string {
	outs := map[string]string{}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return outs
	} else if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			outs[k] = v
		}
	}
	return outs
}

// rigHas reports whether the rig's help mentions a flag.
func rigHas(t *testing.T, root, flag string) bool {
	cmd := exec.Command("go", "run", "./rig", "run", "-h")
	cmd.Dir = root
	out, _ := cmd.CombinedOutput()
	return regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(flag) + `\b`).Match(out)
}

// runAction runs the action's scripts on this machine with the given
// inputs, as a runner runs them, leaving out the uses: steps (setup-go,
// the caches, the upload) and, when not root, the step that would call
// sudo. The -html input is emptied when the rig has no -html flag yet. It
// stops after the step whose id is until, if given, and returns the run
// and the exit status of the step that runs the rig.
func runAction(t *testing.T, inputs map[string]string, until string) (*actionRun, int) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	r := &actionRun{t: t, a: loadAction(t), root: root, tmp: tmp, inputs: inputs,
		outputs: map[string]map[string]string{},
		summary: filepath.Join(tmp, "step_summary.md"),
	}
	if _, ok := inputs["artifacts"]; !ok {
		inputs["artifacts"] = filepath.Join(tmp, "artifacts")
	}
	if !rigHas(t, root, "-html") {
		inputs["html"], r.noHTML = "", true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	code := -1
	for _, s := range r.a.Runs.Steps {
		switch {
		case s.Uses != "":
			t.Logf("step %q: skipped, uses %s", s.Name, s.Uses)
			continue
		case !r.cond(s):
			t.Logf("step %q: skipped, if: %s", s.Name, s.If)
			continue
		case strings.Contains(s.Run, "sudo") && strings.Contains(s.Run, "apt-get") && os.Getuid() != 0:
			t.Logf("step %q: skipped, it would call sudo", s.Name)
			continue
		}
		c := r.step(ctx, s)
		if s.ID == "run" {
			code = c
		} else if c != 0 {
			t.Fatalf("step %q failed (exit %d)", s.Name, c)
		}
		if until != "" && s.ID == until {
			return r, 0
		}
	}
	if code < 0 {
		t.Fatal("no step with id run ran the rig")
	}
	return r, code
}

// checkRunOutputs checks the run step's outputs against want, and that it
// exited 0, as the rig does for a pass.
func checkRunOutputs(t *testing.T, r *actionRun, code int, want map[string]string) map[string]string {
	t.Helper()
	if code != 0 {
		t.Errorf("the run step exited %d, want 0 (the rig's exit status for a pass)", code)
	}
	out := r.outputs["run"]
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if out[k] != want[k] {
			t.Errorf("output %s = %q, want %q (outputs %v)", k, out[k], want[k], out)
		}
	}
	return out
}

// checkReports checks that the HTML report and the job summary each have
// a passing row for the cell, and skips what the rig cannot write yet.
func checkReports(t *testing.T, r *actionRun, cell string) {
	t.Helper()
	out := r.outputs["run"]
	var missing []string
	if r.noHTML {
		missing = append(missing, "the rig has no -html flag yet, so the HTML report was not checked")
	} else if b, err := os.ReadFile(out["html"]); err != nil || !bytes.Contains(b, []byte(`data-cell="`+cell+`"`)) {
		t.Errorf("the HTML report %q (%v) has no row for cell %s", out["html"], err, cell)
	}
	summary, _ := os.ReadFile(r.summary)
	row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(cell) + ` \|.*\| ✅ pass \|`)
	if !row.Match(summary) {
		if !rigMentions(t, "GITHUB_STEP_SUMMARY") {
			missing = append(missing, "the rig does not write GITHUB_STEP_SUMMARY yet, so the job summary was not checked")
		} else {
			t.Errorf("the job summary has no passing row for cell %s:\n%s", cell, summary)
		}
	}
	if len(missing) > 0 {
		t.Skip(strings.Join(missing, "; "))
	}
}

// The action's scripts, run for cell 6.1 and the project's module/: the
// step ends with the rig's exit status, the outputs say pass, the cache
// key is the rig's key of the cell, the reports exist, and the job
// summary and the HTML report have the cell's row.
func TestActionRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the rig, which boots a VM")
	}
	r, code := runAction(t, map[string]string{"cells": "6.1", "module": "module"}, "")
	out := checkRunOutputs(t, r, code, map[string]string{"verdict": "pass", "class": "6.1=pass", "exit-code": "0", "cacheable": "true"})
	key := exec.Command("go", "run", "./rig", "key", "-cell", "6.1")
	key.Dir = r.root
	k, err := key.Output()
	if err != nil {
		t.Fatalf("rig key -cell 6.1: %v", err)
	}
	if got, want := r.outputs["key"]["key"], "6.1-"+strings.TrimSpace(string(k)); got != want {
		t.Errorf("cache key %q, want %q", got, want)
	}
	if cells := readDoc(t, out["json"]).Cells; len(cells) != 1 || cells[0].Name != "6.1" || !cells[0].OK {
		t.Errorf("the -json report: %+v; want cell 6.1 ok", cells)
	}
	if _, err := os.Stat(out["junit"]); err != nil {
		t.Errorf("the JUnit report: %v", err)
	}
	for _, f := range []string{"console.log", "run.json"} {
		if _, err := os.Stat(filepath.Join(out["artifacts"], "6.1", f)); err != nil {
			t.Errorf("artifacts: %v", err)
		}
	}
	checkReports(t, r, "6.1")
}

// Without cells, the action runs one kernel (-kernel), and reads the
// verdict from the single run's report.
func TestActionRunsOneKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the rig, which boots a VM")
	}
	r, code := runAction(t, map[string]string{"kernel": "6.1", "checks": "reader", "module": "module"}, "")
	out := checkRunOutputs(t, r, code, map[string]string{"verdict": "pass", "class": "pass", "exit-code": "0", "junit": ""})
	if k := r.outputs["key"]["key"]; !strings.HasPrefix(k, "6.1-") {
		t.Errorf("cache key %q, want 6.1-...", k)
	}
	if b, err := os.ReadFile(out["json"]); err != nil || !bytes.Contains(b, []byte(`"class": "pass"`)) {
		t.Errorf("the -json report (%v): %s", err, b)
	}
	// A single run's row is named by its kernel and fragments.
	checkReports(t, r, "Debian package linux-source-"+r.inputs["kernel"]+", base")
}

// rigMentions reports whether the rig's own sources (not its tests)
// mention s.
func rigMentions(t *testing.T, s string) bool {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// Config fragments that are files are the caller's: the key step makes
// them absolute in the workspace, and the run step gets them so.
func TestActionKeyStepConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go run ./rig key")
	}
	r, _ := runAction(t, map[string]string{"kernel": "6.1", "config": "debug, ci/extra.config"}, "key")
	out := r.outputs["key"]
	if want := "debug," + filepath.Join(r.root, "ci", "extra.config"); out["config"] != want {
		t.Errorf("config = %q, want %q", out["config"], want)
	}
	if !strings.HasPrefix(out["key"], "6.1-debug__ci_extra.config-") || out["label"] != "6.1-debug__ci_extra.config" {
		t.Errorf("key %q, label %q", out["key"], out["label"])
	}
}

// The run step exits with the rig's own exit code, and says it: 1 for a
// module that fails, as the rig's binary does (go run would say 1 for any
// failure, and 2 and 3 would be lost).
func TestActionExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the rig, which boots a VM")
	}
	for _, tc := range []struct {
		module, checks string
		code           int
		class          string
	}{
		{"testdata/modules/wrongbytes", "reader", verdict.ExitModule, "contract"},
		{"testdata/modules/nosuchmodule", "reader", verdict.ExitSetup, "setup"},
	} {
		t.Run(filepath.Base(tc.module), func(t *testing.T) {
			r, code := runAction(t, map[string]string{"kernel": "6.1", "checks": tc.checks, "module": tc.module}, "")
			out := r.outputs["run"]
			if code != tc.code || out["exit-code"] != strconv.Itoa(tc.code) || out["verdict"] != tc.class {
				t.Errorf("run step exit %d, outputs %v; want exit %d, exit-code %d, verdict %s", code, out, tc.code, tc.code, tc.class)
			}
		})
	}
}
