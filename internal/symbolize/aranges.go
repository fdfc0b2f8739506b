package symbolize

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// arange is a range of addresses of one compilation unit, from
// .debug_aranges: off is the offset of the unit's header in .debug_info.
type arange struct {
	lo, hi uint64
	off    dwarf.Offset
}

// aranges is an index of addresses to units, sorted by lo. debug/dwarf
// does not read .debug_aranges: its SeekPC tries every unit's ranges,
// and misses some units of a kernel's (seen on 6.1 built with gcc 12:
// the address is in a unit's .debug_aranges and line table, and SeekPC
// says ErrUnknownPC).
type aranges []arange

// readAranges parses a .debug_aranges section (versions 2 and 3).
func readAranges(b []byte, bo binary.ByteOrder) (aranges, error) {
	var idx aranges
	for len(b) > 0 {
		length, hdr := uint64(bo.Uint32(b)), 4
		if length == 0xffffffff {
			if len(b) < 12 {
				return nil, errors.New("short .debug_aranges")
			}
			length, hdr = bo.Uint64(b[4:]), 12
		}
		if length > uint64(len(b)-hdr) || length < uint64(hdr)+4 {
			return nil, fmt.Errorf(".debug_aranges: a set of %d bytes in %d", length, len(b))
		}
		set := b[:uint64(hdr)+length]
		b = b[len(set):]
		ranges, err := readSet(set, hdr, bo)
		if err != nil {
			return nil, err
		}
		idx = append(idx, ranges...)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i].lo < idx[j].lo })
	return idx, nil
}

// readSet reads one set of .debug_aranges: its header (after a length
// of hdr bytes), then (address, length) pairs up to (0, 0).
func readSet(set []byte, hdr int, bo binary.ByteOrder) ([]arange, error) {
	p := hdr + 2 // the version
	var off uint64
	if hdr == 12 {
		off, p = bo.Uint64(set[p:]), p+8
	} else {
		off, p = uint64(bo.Uint32(set[p:])), p+4
	}
	if p+2 > len(set) {
		return nil, errors.New(".debug_aranges: short header")
	}
	asize, ssize := int(set[p]), int(set[p+1])
	if asize != 4 && asize != 8 || ssize != 0 {
		return nil, fmt.Errorf(".debug_aranges: addresses of %d bytes, segments of %d: not supported", asize, ssize)
	}
	p += 2
	tuple := 2 * asize
	p = (p + tuple - 1) / tuple * tuple // the tuples are aligned to their size
	word := func(i int) uint64 {
		if asize == 4 {
			return uint64(bo.Uint32(set[i:]))
		}
		return bo.Uint64(set[i:])
	}
	var out []arange
	for ; p+tuple <= len(set); p += tuple {
		lo, n := word(p), word(p+asize)
		if lo == 0 && n == 0 {
			break
		}
		if n > 0 {
			out = append(out, arange{lo: lo, hi: lo + n, off: dwarf.Offset(off)})
		}
	}
	return out, nil
}

// find returns the offset of the header of the unit that holds pc.
func (a aranges) find(pc uint64) (dwarf.Offset, bool) {
	i, _ := slices.BinarySearchFunc(a, pc, func(r arange, pc uint64) int {
		if r.lo <= pc {
			return -1
		}
		return 1
	})
	// a[i-1] is the last range that starts at or before pc; ranges
	// before it may still hold pc when a unit's ranges overlap others'.
	for j := i - 1; j >= 0 && j >= i-8; j-- {
		if a[j].lo <= pc && pc < a[j].hi {
			return a[j].off, true
		}
	}
	return 0, false
}

// unitHeaders are the sizes of a compilation unit's header that its
// first entry can follow: DWARF 2-4's (11 bytes), DWARF 5's (12), and
// their 64-bit forms (23, 24).
var unitHeaders = []dwarf.Offset{11, 12, 23, 24}

// seekUnit positions r at the children of the unit whose header is at
// off, and returns the unit's entry. debug/dwarf seeks only to entries:
// the first entry follows the header, whose size depends on the unit's
// version, so each size is tried, smallest first; an offset inside the
// header is out of the unit's entries and fails.
func seekUnit(r *dwarf.Reader, off dwarf.Offset) (*dwarf.Entry, error) {
	for _, h := range unitHeaders {
		r.Seek(off + h)
		e, err := r.Next()
		if err == nil && e != nil && e.Offset == off+h && (e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit) {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no unit at %#x of .debug_info", off)
}
