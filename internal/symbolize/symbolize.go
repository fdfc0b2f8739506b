package symbolize

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Objects are what frames are looked up in.
type Objects struct {
	// Modules are the modules' .ko files, by the name the kernel gives
	// the module.
	Modules map[string]string
	// Vmlinux is the kernel's vmlinux; its frames are decoded when it has
	// debug info. Empty: the kernel's frames stay as printed.
	Vmlinux string
	// Roots turn the file names of the debug info into the ones to show.
	Roots []Root
}

// Root maps files under From to files under To: the first Root whose
// From holds a file replaces that prefix; an empty To leaves the file
// relative ("mm/mmap.c").
type Root struct {
	From, To string
}

// Decode decodes a report's stack: trap is its RIP:/pc: line ("" for
// none), stack its frames as the kernel printed them. Every frame comes
// back, decoded where an object has debug info for it; the error says
// which objects could not be read, or that ctx ended first.
func Decode(ctx context.Context, objs Objects, trap string, stack []string) ([]Frame, error) {
	frames := parseStack(trap, stack)
	s := &session{objs: objs, open: map[string]*object{}, failed: map[string]error{}}
	for i := range frames {
		if err := ctx.Err(); err != nil {
			return frames, errors.Join(append(s.errs(), err)...)
		}
		s.decode(ctx, &frames[i])
	}
	return frames, errors.Join(s.errs()...)
}

// parseStack reads the trap and the stack's frames. The trap is the first
// frame, unless the stack starts with it already (arm64's does); a
// guessed frame at the trap's address (x86's pt_regs on the stack) is the
// trap too, not a return address.
func parseStack(trap string, stack []string) []Frame {
	var frames []Frame
	t, hasTrap := ParseFrame(trap)
	for _, l := range stack {
		f, ok := ParseFrame(l)
		if !ok {
			continue
		}
		if hasTrap && f.Raw == t.Raw {
			f.Trap = true
			if len(frames) == 0 {
				hasTrap = false // the stack's first frame is the trap
			}
		}
		frames = append(frames, f)
	}
	if hasTrap {
		t.Trap, t.Reliable = true, true
		frames = append([]Frame{t}, frames...)
	}
	return frames
}

// session holds the objects opened for one Decode.
type session struct {
	objs   Objects
	open   map[string]*object
	failed map[string]error
}

// decode fills in the frame's lines.
func (s *session) decode(ctx context.Context, f *Frame) {
	path := s.objs.Vmlinux
	if f.Module != "" {
		path = s.objs.Modules[moduleName(f.Module)]
	}
	if path == "" {
		return
	}
	o := s.object(ctx, path)
	if o == nil {
		return
	}
	pc, ok := o.address(*f)
	if !ok {
		return
	}
	if !f.Trap && f.Offset > 0 {
		pc-- // a return address: the call is before it
	}
	locs, err := o.lines(pc)
	if err != nil {
		return
	}
	for i := range locs {
		locs[i].File = s.mapFile(locs[i].File)
	}
	f.Lines = locs
}

// object opens path once; nil when it cannot be read or ctx ends first.
// A vmlinux with debug info is large: it is read in the background, and
// the wait for it ends with ctx.
func (s *session) object(ctx context.Context, path string) *object {
	if o, ok := s.open[path]; ok {
		return o
	}
	if _, ok := s.failed[path]; ok {
		return nil
	}
	type opened struct {
		o   *object
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		o, err := openObject(path)
		ch <- opened{o, err}
	}()
	select {
	case <-ctx.Done():
		s.failed[path] = fmt.Errorf("%s: %w", path, ctx.Err())
		return nil
	case r := <-ch:
		if r.err != nil {
			s.failed[path] = r.err
			return nil
		}
		s.open[path] = r.o
		return r.o
	}
}

// errs are the objects that could not be read, but a vmlinux without
// debug info, which is the usual kernel's.
func (s *session) errs() []error {
	var errs []error
	for path, err := range s.failed {
		if path == s.objs.Vmlinux && errors.Is(err, errNoDebugInfo) {
			continue
		}
		errs = append(errs, err)
	}
	return errs
}

// mapFile maps a file of the debug info by the first Root that holds it.
func (s *session) mapFile(file string) string {
	file = filepath.Clean(file)
	for _, r := range s.objs.Roots {
		rel, err := filepath.Rel(r.From, file)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		if r.To == "" {
			return rel
		}
		return filepath.Join(r.To, rel)
	}
	return file
}

// moduleName is a module's name as the kernel spells it: "-" is "_".
func moduleName(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}
