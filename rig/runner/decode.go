package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/modinfo"
	"github.com/mmaprig/mmaprig/internal/symbolize"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// decodeTimeout bounds decoding a crash's stack. The .ko files take a
// few milliseconds (5 ms for a base kernel's report); a vmlinux with
// debug info is read whole: the debug kernel's (126 MB) took 1.4-1.9 s
// for a 13-frame report on a loaded 2-core machine, with about 300 MB of
// memory at the peak.
const decodeTimeout = 30 * time.Second

// decodeCrash decodes the stack of the verdict's kernel report, if any,
// from the debug info of the module and of the kernel: the guilty
// frame's file and line become the crash's, and the message says them.
// It writes the report and its decoded stack to report.txt.
func (r *run) decodeCrash(ctx context.Context, res *verdict.Result) {
	c := res.Crash
	if c == nil {
		return
	}
	if c.Trap != "" || len(c.Stack) > 0 {
		ctx, cancel := context.WithTimeout(ctx, decodeTimeout)
		defer cancel()
		start := time.Now()
		frames, err := symbolize.Decode(ctx, r.debugObjects(), c.Trap, c.Stack)
		r.opts.Log.Debug("decoded the kernel report's stack", "frames", len(frames), "took", time.Since(start).Round(time.Millisecond))
		if err != nil {
			r.opts.Log.Warn("the stack is decoded only in part", "err", err)
		}
		c.Decoded = frames
		if loc, ok := r.guiltyLine(c); ok {
			c.File, c.Line = loc.File, loc.Line
			res.Msg += fmt.Sprintf(", at %s:%d", loc.File, loc.Line)
		}
	}
	r.writeReport(*res)
}

// debugObjects are the module's .ko files and the kernel's vmlinux, and
// the roots that turn their debug info's files into the author's (the
// module's tree, as the user named it) and the kernel tree's (relative).
func (r *run) debugObjects() symbolize.Objects {
	objs := symbolize.Objects{Modules: map[string]string{}}
	for _, ko := range r.kos {
		info, err := modinfo.Read(ko)
		if err != nil {
			continue
		}
		if name, err := info.Name(); err == nil {
			objs.Modules[name] = ko
		}
	}
	objs.Roots = []symbolize.Root{{From: kernel.ModuleDebugRoot, To: r.moduleTree()}, {From: kernel.KernelDebugRoot}}
	if r.kernel == nil || r.kernel.BuildDir == "" {
		return objs
	}
	objs.Vmlinux = filepath.Join(r.kernel.BuildDir, "vmlinux")
	for _, dir := range []string{filepath.Join(r.kernel.BuildDir, "source"), r.kernel.BuildDir} {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			objs.Roots = append(objs.Roots, symbolize.Root{From: real})
		}
	}
	return objs
}

// moduleTree is the module's tree (what the build copied), named as the
// user named it: relative to the working directory when it is below it.
func (r *run) moduleTree() string {
	return displayDir(kernel.ModuleSpec{Dir: r.opts.ModuleDir, Root: r.opts.ModuleRoot}.TreeRoot())
}

// guiltyLine is where the guilty function is at in the decoded stack: in
// its first decoded frame, the reliable frames first, the innermost line
// in the author's files for a module's frame (a kernel header's inline
// function is not where the author's bug is), else the innermost.
func (r *run) guiltyLine(c *verdict.Crash) (symbolize.Location, bool) {
	tree := r.moduleTree() + string(filepath.Separator)
	inTree := func(file string) bool { return strings.HasPrefix(file, tree) }
	for _, reliable := range []bool{true, false} {
		for _, f := range c.Decoded {
			name, _, _ := strings.Cut(f.Function, ".")
			if f.Reliable != reliable || name != c.Frame || len(f.Lines) == 0 {
				continue
			}
			if f.Module == "" {
				return f.Lines[0], true
			}
			return f.Innermost(inTree)
		}
	}
	return symbolize.Location{}, false
}

// writeReport writes report.txt: the report's title and line, the
// console around it, and its decoded stack.
func (r *run) writeReport(res verdict.Result) {
	c := res.Crash
	var b strings.Builder
	b.WriteString(c.Title + "\n")
	if c.File != "" {
		fmt.Fprintf(&b, "at %s:%d\n", c.File, c.Line)
	}
	if res.Excerpt != "" {
		b.WriteString("\n" + res.Excerpt + "\n")
	}
	if len(c.Decoded) > 0 {
		b.WriteString("\ndecoded stack:\n")
		for _, l := range symbolize.Format(c.Decoded) {
			b.WriteString(" " + l + "\n")
		}
	}
	if err := os.WriteFile(filepath.Join(r.opts.ArtifactDir, layout.Report), []byte(b.String()), 0o644); err != nil {
		r.opts.Log.Warn("write the kernel report", "err", err)
	}
}
