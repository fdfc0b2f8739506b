package report

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
)

// The facts below are a cell's details as label and value, which the
// HTML page and the job summary both show, each in its own markup.

// guestFacts say which kernel ran on what, how the guest came up and
// how long it took to get where.
func guestFacts(r result.Run) []htmlFact {
	var facts []htmlFact
	add := func(label, value string) {
		if value != "" {
			facts = append(facts, htmlFact{Label: label, Value: value})
		}
	}
	add("kernel", kernelFact(r))
	platform := r.Arch
	if r.Accel != "" {
		platform = join(", ", platform, r.Accel)
		if r.AccelReason != "" {
			platform += " (" + r.AccelReason + ")"
		}
	}
	add("platform", platform)
	add("boot", bootFact(r.Boot))
	var times []string
	for _, t := range []struct {
		what string
		s    result.Seconds
	}{{"init", r.BootToInit}, {"SSH ready", r.BootToReady}, {"verdict", r.BootToVerdict}} {
		if t.s > 0 {
			times = append(times, t.what+" "+seconds(t.s.Seconds()))
		}
	}
	if times != nil {
		add("after QEMU started", strings.Join(times, " · "))
	}
	if r.ContractTime > 0 {
		add("contract", "ran "+seconds(r.ContractTime.Seconds())+" in the guest")
	}
	add("exec", execFact(r.Exec))
	return facts
}

// kernelFact says which kernel ran, where it came from and how this run
// got it, with what the phrase leaves out: the whole source (a URL, a
// repository) and commit, the config fragments and the cache key.
func kernelFact(r result.Run) string {
	o := r.Origin
	if o == nil {
		return r.Kernel
	}
	s := o.String()
	switch {
	case o.Commit != "":
		s += "; commit " + o.Commit + " of " + o.Source
	case o.Kind == kernel.OriginURL || o.Kind == kernel.OriginTarball:
		s += "; from " + o.Source
	}
	if len(o.Fragments) > 0 {
		s += "; config " + strings.Join(o.Fragments, "+")
	}
	if o.Key != "" {
		s += "; key " + o.Key
	}
	return s
}

// bootFact says how the guest came up.
func bootFact(b *result.Boot) string {
	if b == nil {
		return ""
	}
	s := b.Mode + " boot"
	if b.Mode == result.BootRestored {
		s = "restored from a snapshot"
	}
	s += ", ready in " + seconds(b.Took.Seconds())
	if b.RestoreFailed != "" {
		s += ", after a snapshot did not restore: " + b.RestoreFailed
	}
	if b.Saved {
		s += "; snapshot saved for later runs"
	}
	if b.SaveError != "" {
		s += "; snapshot not saved: " + b.SaveError
	}
	return s
}

// execFact says how the exec command ended.
func execFact(e *result.Exec) string {
	if e == nil {
		return ""
	}
	s := "exit " + strconv.Itoa(e.Exit)
	if e.Signal != "" {
		s += ", signal " + e.Signal
	}
	if e.Error != "" {
		s += ", " + e.Error
	}
	if e.Stderr != "" {
		s += "\nstderr:\n" + strings.TrimRight(e.Stderr, "\n")
	}
	return s
}

// crashFacts say what the kernel reported: its kind, title, the guilty
// frame and where it is. The stack is shown apart.
func crashFacts(r result.Run) []htmlFact {
	c := r.Crash
	if c == nil {
		return nil
	}
	var facts []htmlFact
	add := func(label, value string) {
		if value != "" {
			facts = append(facts, htmlFact{Label: label, Value: value})
		}
	}
	add("kind", c.Kind)
	if c.Title != r.Title {
		add("title", c.Title)
	}
	add("frame", c.Frame)
	if c.File != "" {
		loc := c.File
		if c.Line > 0 {
			loc += ":" + strconv.Itoa(c.Line)
		}
		add("at", loc)
	}
	if c.Panic {
		add("panic", "the kernel panicked")
	}
	return facts
}

// coverageFacts are the module's line coverage, a fact per source file
// with the lines no run hit, and links to the reports that exist.
func coverageFacts(r result.Run, dir string) []htmlFact {
	cov := r.Coverage
	if cov == nil {
		return nil
	}
	var facts []htmlFact
	for _, f := range cov.Files {
		v := f.String()
		if len(f.Uncovered) > 0 {
			v += "; not hit: lines " + lineRanges(f.Uncovered)
		}
		facts = append(facts, htmlFact{Label: f.File, Value: v})
	}
	for _, l := range []struct{ label, path string }{{"HTML report", cov.HTML}, {"lcov", cov.LCOV}} {
		if _, err := os.Stat(l.path); err == nil && dir != "" {
			facts = append(facts, htmlFact{Label: l.label, Value: l.path,
				Link: &htmlLink{Name: l.path, Href: relHref(dir, l.path, false)}})
		}
	}
	return facts
}

// lineRanges writes sorted line numbers as ranges: "3-5, 9".
func lineRanges(lines []int) string {
	var parts []string
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && lines[j+1] == lines[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(lines[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", lines[i], lines[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// join joins the non-empty strings with sep.
func join(sep string, s ...string) string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return strings.Join(out, sep)
}
