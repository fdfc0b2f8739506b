package verdict

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/tail"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// judgeRun judges a program's event by its check, records what the run
// produced in res, and returns the failure, if any.
func judgeRun(res *Result, p Program, ev wire.Event, spec Spec) *Result {
	name := p.Argv[0]
	failed := func(c Class, title, format string, args ...any) *Result {
		return &Result{Class: c, Title: title, Msg: fmt.Sprintf(format, args...)}
	}
	switch p.Check {
	case CheckExec:
		res.Output = ev.Stdout
		res.Exec = &Exec{Exit: ev.Exit, Signal: ev.Signal, Err: ev.Err, Stderr: ev.Stderr}
		return nil
	case CheckReader:
		res.Output = ev.Stdout
		if !ev.OK {
			return failed(Contract, name+" failed", "%s failed (%s): %s", name, how(ev), firstNonEmpty(strings.TrimSpace(ev.Stderr), ev.Err))
		}
		if want := wire.ReaderLines(spec.Expect); !slices.Equal(ev.Stdout, want) {
			return failed(Contract, "wrong bytes in the mapped page", "wrong bytes in the mapped page: got [%s], want [%s]",
				strings.Join(ev.Stdout, " "), strings.Join(want, " "))
		}
		return nil
	case CheckKTAP:
		res.KTAP = strings.Join(ev.Stdout, "\n") + "\n"
		res.ContractTime = time.Duration(ev.MS) * time.Millisecond
		return judgeKTAP(res, p, ev, true)
	case CheckProgram:
		if looksLikeKTAP(ev.Stdout) {
			return judgeKTAP(res, p, ev, false)
		}
		c := wire.Case{Number: 1, Name: p.Suite(), Result: wire.Pass, Time: time.Duration(ev.MS) * time.Millisecond, Suite: p.Suite()}
		if !ev.OK {
			c.Result, c.Diagnostics = wire.Fail, diagnostics(ev)
		}
		res.Cases = append(res.Cases, c)
		if !ev.OK {
			return failed(Contract, "guest test "+p.Suite()+" failed", "guest test %s failed (%s): %s", p.Suite(), how(ev),
				firstNonEmpty(strings.TrimSpace(ev.Stderr), ev.Err))
		}
		return nil
	case CheckGoTest:
		return judgeGoTest(res, p, ev, spec.Run != "")
	}
	return failed(Channel, "internal error", "internal error: program %s has no check %q", name, p.Check)
}

// how says how a program ended.
func how(ev wire.Event) string {
	if ev.Signal != "" {
		return "killed by " + ev.Signal
	}
	s := fmt.Sprintf("exit %d", ev.Exit)
	if ev.Truncated {
		s += ", output cut at 1 MiB"
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// judgeKTAP parses a program's KTAP into cases. A contract's failures are
// named as contract cases; an author's test's by its name.
func judgeKTAP(res *Result, p Program, ev wire.Event, contract bool) *Result {
	name := p.Suite()
	doc, err := wire.ParseKTAP(strings.NewReader(strings.Join(ev.Stdout, "\n")))
	for _, c := range doc.Cases {
		c.Suite = name
		res.Cases = append(res.Cases, c)
	}
	failed := func(title, format string, args ...any) *Result {
		return &Result{Class: Contract, Title: title, Msg: fmt.Sprintf(format, args...)}
	}
	if err != nil {
		return failed(name+" did not finish", "%s did not finish (%s; %s): %v %s",
			name, firstNonEmpty(ev.Err, "no error"), how(ev), err, strings.TrimSpace(ev.Stderr))
	}
	var names, details []string
	for _, c := range doc.Cases {
		if c.Result == wire.Fail {
			names = append(names, c.Name)
			details = append(details, c.Diagnostics...)
		}
	}
	if names != nil {
		what := "contract case(s) failed: "
		if !contract {
			what = "guest test " + name + " failed: "
		}
		r := failed(what+strings.Join(names, ", "), "%s%s", what, strings.Join(names, ", "))
		r.Excerpt = strings.Join(details, "\n")
		return r
	}
	if !ev.OK {
		return failed(name+" failed", "%s failed (%s) though every case passed: %s", name, how(ev),
			firstNonEmpty(strings.TrimSpace(ev.Stderr), ev.Err))
	}
	return nil
}

// looksLikeKTAP reports whether output starts as KTAP does.
func looksLikeKTAP(lines []string) bool {
	return len(lines) > 0 && (strings.HasPrefix(lines[0], "KTAP version ") || strings.HasPrefix(lines[0], "TAP version "))
}

// trimOutput keeps a failed test's own lines, without blank ones.
func trimOutput(lines []string) []string {
	var out []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// diagnostics are what a failed program said: its stderr's last lines, or
// its error.
func diagnostics(ev wire.Event) []string {
	if s := strings.TrimSpace(ev.Stderr); s != "" {
		return tail.Lines(strings.Split(s, "\n"), 10)
	}
	return []string{ev.Err}
}
