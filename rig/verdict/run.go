package verdict

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// judgeRun judges a program's event by its check, records what the run
// produced in res, and returns the failure, if any.
func judgeRun(res *Result, p Program, ev wire.Event, expect []byte) *Result {
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
		if want := wire.ReaderLines(expect); !slices.Equal(ev.Stdout, want) {
			return failed(Contract, "wrong bytes in the mapped page", "wrong bytes in the mapped page: got [%s], want [%s]",
				strings.Join(ev.Stdout, " "), strings.Join(want, " "))
		}
		return nil
	case CheckKTAP:
		out := strings.Join(ev.Stdout, "\n")
		res.KTAP = out + "\n"
		res.ContractTime = time.Duration(ev.MS) * time.Millisecond
		doc, err := wire.ParseKTAP(strings.NewReader(out))
		res.Cases = append(res.Cases, doc.Cases...)
		if err != nil {
			return failed(Contract, name+" did not finish", "%s did not finish (%s; %s): %v %s",
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
			r := failed(Contract, "contract case(s) failed: "+strings.Join(names, ", "), "contract case(s) failed: %s", strings.Join(names, ", "))
			r.Excerpt = strings.Join(details, "\n")
			return r
		}
		if !ev.OK {
			return failed(Contract, name+" failed", "%s failed (%s) though every case passed: %s", name, how(ev),
				firstNonEmpty(strings.TrimSpace(ev.Stderr), ev.Err))
		}
		return nil
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
