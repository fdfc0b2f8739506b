package symbolize

import (
	"debug/dwarf"
	"fmt"
)

// lines returns where pc is in the object's sources, innermost first: the
// line table's line in the innermost function inlined at pc, then each
// caller at the line of its call, out to the function itself.
func (o *object) lines(pc uint64) ([]Location, error) {
	r := o.d.Reader()
	cu, err := r.SeekPC(pc)
	if err != nil {
		return nil, fmt.Errorf("%#x: %w", pc, err)
	}
	chain, err := o.scopes(r, pc)
	if err != nil {
		return nil, err
	}
	lr, err := o.d.LineReader(cu)
	if err != nil || lr == nil {
		return nil, fmt.Errorf("%#x: no line table: %v", pc, err)
	}
	var le dwarf.LineEntry
	if err := lr.SeekPC(pc, &le); err != nil {
		return nil, fmt.Errorf("%#x: %w", pc, err)
	}
	files := lr.Files()
	file, line := fileName(le.File), le.Line
	var locs []Location
	for i := len(chain) - 1; i >= 0; i-- {
		e := chain[i]
		locs = append(locs, Location{Function: o.name(e), File: file, Line: line})
		file, line = "", 0
		if n, ok := e.Val(dwarf.AttrCallFile).(int64); ok && n >= 0 && int(n) < len(files) {
			file = fileName(files[n])
		}
		if n, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
			line = int(n)
		}
	}
	if len(locs) == 0 {
		// No function's DIE covers pc: the line table alone.
		locs = append(locs, Location{File: file, Line: line})
	}
	return locs, nil
}

func fileName(f *dwarf.LineFile) string {
	if f == nil {
		return ""
	}
	return f.Name
}

// scopes reads the children of the unit r is in, and returns the
// function that covers pc and the functions inlined into it that do,
// outermost first.
func (o *object) scopes(r *dwarf.Reader, pc uint64) ([]*dwarf.Entry, error) {
	var chain []*dwarf.Entry
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil || e.Tag == 0 {
			return chain, nil // the end of this level
		}
		if !o.covers(e, pc) {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		if e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagInlinedSubroutine {
			chain = append(chain, e)
		}
		if !e.Children {
			return chain, nil
		}
		// Down into the covering scope: what is left of this level
		// cannot cover pc too.
	}
}

// covers reports whether e is a scope (a function, an inlined call, a
// block) whose ranges hold pc.
func (o *object) covers(e *dwarf.Entry, pc uint64) bool {
	switch e.Tag {
	case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine, dwarf.TagLexDwarfBlock:
	default:
		return false
	}
	ranges, err := o.d.Ranges(e)
	if err != nil {
		return false
	}
	for _, rg := range ranges {
		if rg[0] <= pc && pc < rg[1] {
			return true
		}
	}
	return false
}

// name is a function's name, from the DIE itself or the abstract one it
// is an instance of.
func (o *object) name(e *dwarf.Entry) string {
	for range 4 { // origin of a specification, at most
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			return n
		}
		off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			off, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		}
		if !ok {
			return ""
		}
		r := o.d.Reader()
		r.Seek(off)
		next, err := r.Next()
		if err != nil || next == nil {
			return ""
		}
		e = next
	}
	return ""
}
