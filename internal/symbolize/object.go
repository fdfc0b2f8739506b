package symbolize

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"os"
)

// object is an ELF file with its debug info, its sections at distinct
// addresses.
type object struct {
	path string
	d    *dwarf.Data
	// syms are the defined functions by name, at their addresses.
	syms map[string][]elf.Symbol
}

// errNoDebugInfo is an object without DWARF.
var errNoDebugInfo = errors.New("no debug info")

// openObject reads an ELF file and its DWARF. A relocatable file (a .ko)
// has every section at address 0, so .text, .init.text and .exit.text
// would overlap in its DWARF: it is laid out first, each allocated
// section at its own address, as a linker would.
func openObject(path string) (*object, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Section(".debug_info") == nil {
		return nil, fmt.Errorf("%s: %w", path, errNoDebugInfo)
	}
	if f.Type != elf.ET_REL {
		return newObject(path, f)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, err = layOut(f, b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	laid, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return newObject(path, laid)
}

// newObject reads f's DWARF and function symbols.
func newObject(path string, f *elf.File) (*object, error) {
	d, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: debug info: %w", path, err)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: symbols: %w", path, err)
	}
	o := &object{path: path, d: d, syms: map[string][]elf.Symbol{}}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF && s.Section < elf.SHN_LORESERVE {
			o.syms[s.Name] = append(o.syms[s.Name], s)
		}
	}
	return o, nil
}

// layoutBase is where the first section goes: no address is 0.
const layoutBase = 0x10000

// layOut gives each allocated section of a relocatable file its own
// address range: it adds the section's address to the value of every
// symbol defined in it, in a copy of the file's bytes, so that the
// relocations debug/elf applies to the DWARF (section symbol + addend)
// land in that range. It returns the copy.
func layOut(f *elf.File, b []byte) ([]byte, error) {
	bases := make([]uint64, len(f.Sections))
	next := uint64(layoutBase)
	for i, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Size == 0 {
			continue
		}
		align := max(s.Addralign, 16)
		next = (next + align - 1) &^ (align - 1)
		bases[i] = next
		next += s.Size
	}
	var symtab *elf.Section
	for _, s := range f.Sections {
		if s.Type == elf.SHT_SYMTAB {
			symtab = s
		}
	}
	if symtab == nil {
		return nil, errors.New("no symbol table")
	}
	out := bytes.Clone(b)
	return out, patchSymbols(f, out, symtab, bases)
}

// patchSymbols adds bases[section] to the value of each symbol defined in
// an allocated section, in place.
func patchSymbols(f *elf.File, b []byte, symtab *elf.Section, bases []uint64) error {
	// Elf64_Sym: name 4, info 1, other 1, shndx 2, value 8, size 8.
	// Elf32_Sym: name 4, value 4, size 4, info 1, other 1, shndx 2.
	ent, shndxAt, valueAt := uint64(24), uint64(6), uint64(8)
	if f.Class == elf.ELFCLASS32 {
		ent, shndxAt, valueAt = 16, 14, 4
	}
	if symtab.Offset+symtab.Size > uint64(len(b)) {
		return errors.New("the symbol table lies past the end of the file")
	}
	bo := f.ByteOrder
	for off := symtab.Offset + ent; off+ent <= symtab.Offset+symtab.Size; off += ent {
		shndx := int(bo.Uint16(b[off+shndxAt:]))
		if shndx == 0 || shndx >= len(bases) || bases[shndx] == 0 {
			continue
		}
		if f.Class == elf.ELFCLASS32 {
			v := b[off+valueAt:]
			bo.PutUint32(v, bo.Uint32(v)+uint32(bases[shndx]))
			continue
		}
		v := b[off+valueAt:]
		bo.PutUint64(v, bo.Uint64(v)+bases[shndx])
	}
	return nil
}

// address is where the frame's function+offset is in the object: the
// function's symbol, the one of the frame's size when the name is not
// unique (static functions of vmlinux).
func (o *object) address(f Frame) (uint64, bool) {
	cands := o.syms[f.Function]
	for _, s := range cands {
		if len(cands) == 1 || f.Size == 0 || s.Size == f.Size {
			return s.Value + f.Offset, true
		}
	}
	return 0, false
}
