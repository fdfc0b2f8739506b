package main

// user_kernel_agree, and how it tells a driver that has no read() or
// write() from one whose read() or write() is broken.
//
// An interface is judged absent only from its first call: read() of one
// byte, or write() of one byte, on a fresh descriptor at offset 0. The
// kernel answers EINVAL there for a file whose driver has no ->read (or
// ->write), before the driver is called; a stub that says "not supported"
// answers EOPNOTSUPP or ENOSYS. Once that first call has worked, every
// error is a failure that names the call, the offset, the length and the
// errno: a read() that works at offset 0 and refuses offset 200 is a bug,
// not a missing read().

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// devFile is what user_kernel_agree needs of an open device: an *os.File
// in the guest, a fake in the tests.
type devFile interface {
	io.ReadWriteCloser
	io.ReaderAt
	io.WriterAt
	io.Seeker
}

// agreement is user_kernel_agree's device: how to open it, and its page
// as this process maps it, shared.
type agreement struct {
	open func() (devFile, error)
	page []byte
}

// presence is what the first call of an interface says about it.
type presence int

const (
	present presence = iota // it worked
	absent                  // the driver has no such interface
	broken                  // the driver has it, and it failed
)

// judgeFirst judges the error of an interface's first call, on a fresh
// descriptor at offset 0. End of file is an answer, not an error.
func judgeFirst(err error) presence {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return present
	case notImplemented(err):
		return absent
	}
	return broken
}

// notImplemented reports whether err is what a first call returns when
// the driver lacks the interface: the kernel's EINVAL for a file with no
// ->read or ->write, or a stub's EOPNOTSUPP or ENOSYS. It means that only
// for a first call: later, EINVAL is the driver refusing.
func notImplemented(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

// errnoText names an error by its errno, "EINVAL (invalid argument)",
// where it has one. Errno 95 is named EOPNOTSUPP, as the kernel's sources
// name it (libc's ENOTSUP is the same number).
func errnoText(err error) string {
	var e unix.Errno
	if !errors.As(err, &e) {
		return err.Error()
	}
	name := unix.ErrnoName(e)
	if e == unix.EOPNOTSUPP {
		name = "EOPNOTSUPP"
	}
	if name == "" {
		return err.Error()
	}
	return fmt.Sprintf("%s (%v)", name, e)
}

// ioError names a call that moved n bytes of want and failed, or that
// stopped early: the driver returned 0, which for a read is the end of
// the file.
func ioError(call string, n, want int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrShortWrite) {
		return fmt.Errorf("%s: the driver returned 0 after %d of %d bytes", call, n, want)
	}
	return fmt.Errorf("%s: %s", call, errnoText(err))
}

// onFresh runs call on a descriptor opened for it, at offset 0. The first
// error is the open's, the second the call's.
func (a *agreement) onFresh(call func(devFile) error) (openErr, err error) {
	f, openErr := a.open()
	if openErr != nil {
		return openErr, nil
	}
	defer f.Close()
	return nil, call(f)
}

// firstCalls makes the first read() and the first write(), one byte each
// at offset 0, and judges each. The write stores the byte the page
// already holds there; the read must return that byte.
func (a *agreement) firstCalls() (rd, wr presence, why []string, err error) {
	got, one := []byte{0}, []byte{a.page[0]}
	var n int
	var errs [2]error
	calls := []func(devFile) error{
		func(f devFile) (err error) { n, err = f.Read(got); return err },
		func(f devFile) error { _, err := f.Write(one); return err },
	}
	for i, call := range calls {
		oerr, cerr := a.onFresh(call)
		if oerr != nil {
			return 0, 0, nil, fmt.Errorf("open the device: %w", oerr)
		}
		errs[i] = cerr
	}
	rd, wr = judgeFirst(errs[0]), judgeFirst(errs[1])
	switch {
	case rd == broken:
		return rd, wr, nil, ioError("read() of 1 byte at offset 0", n, 1, errs[0])
	case wr == broken:
		return rd, wr, nil, ioError("write() of 1 byte at offset 0", 0, 1, errs[1])
	case rd == present && n == 1 && got[0] != one[0]:
		return rd, wr, nil, fmt.Errorf("read() at offset 0 returned %#x; the mapping holds %#x", got[0], one[0])
	}
	for i, what := range []string{"read()", "write()"} {
		if judgeFirst(errs[i]) == absent {
			why = append(why, fmt.Sprintf("%s of 1 byte at offset 0 returned %s", what, errnoText(errs[i])))
		}
	}
	return rd, wr, why, nil
}

// check is user_kernel_agree: bytes written through the mapping come back
// from read(), and what write() stores shows in the mapping. A driver
// with neither, or with one of them, is skipped for what it lacks, with
// the first call's errno as the reason.
func (a *agreement) check() (wire.CaseResult, string) {
	saved := append([]byte(nil), a.page...)
	defer copy(a.page, saved)
	rd, wr, why, err := a.firstCalls()
	if err != nil {
		return fail("%v", err)
	}
	if rd == absent && wr == absent {
		return wire.Skip, fmt.Sprintf("no read() or write(): the driver has no read() and no write() (%s; %s)", why[0], why[1])
	}
	pos, err := a.positioning(rd == present)
	if err != nil {
		return fail("%v", err)
	}
	const readOff, writeOff = 200, 300
	if rd == present {
		copy(a.page[readOff:], "from-user")
		got := make([]byte, 9)
		if err := a.readAt(pos, got, readOff); err != nil {
			return fail("%v (read() at offset 0 worked: the driver has read(), and this call failed)", err)
		}
		if string(got) != "from-user" {
			return fail("wrote %q through the mapping at %d; read() returned %q", "from-user", readOff, got)
		}
	}
	if wr == present {
		if err := a.writeAt(pos, []byte("from-kern"), writeOff); err != nil {
			return fail("%v (write() at offset 0 worked: the driver has write(), and this call failed)", err)
		}
		if got := a.page[writeOff : writeOff+9]; string(got) != "from-kern" {
			return fail("write() stored %q at %d; the mapping shows %q", "from-kern", writeOff, got)
		}
	}
	switch {
	case rd == absent:
		return wire.Skip, fmt.Sprintf("no read(): the driver has no read() (%s); write() agrees with the mapping", why[0])
	case wr == absent:
		return wire.Skip, fmt.Sprintf("no write(): the driver has no write() (%s); read() agrees with the mapping", why[0])
	}
	return wire.Pass, ""
}

// positioning is how the case reaches an offset in the device.
type positioning int

const (
	bySeek  positioning = iota // lseek(), then read() or write()
	byPread                    // pread() and pwrite(): the driver has no llseek
	inOrder                    // from offset 0, in order: the device cannot seek
)

// positioning decides, from first calls at offset 0, how to reach an
// offset: lseek() to 0 works, or answers ESPIPE, the kernel's answer for a
// file with no llseek; then pread() (or pwrite(), for a driver with no
// read) of 1 byte at offset 0 works, or answers ESPIPE, the kernel's
// answer for a file opened without positional I/O (nonseekable_open()).
// Any other answer is a failure.
func (a *agreement) positioning(read bool) (positioning, error) {
	var at int64
	oerr, err := a.onFresh(func(f devFile) (err error) { at, err = f.Seek(0, io.SeekStart); return err })
	switch {
	case oerr != nil:
		return 0, fmt.Errorf("open the device: %w", oerr)
	case err == nil && at == 0:
		return bySeek, nil
	case err == nil:
		return 0, fmt.Errorf("lseek() to offset 0 returned offset %d", at)
	case !errors.Is(err, unix.ESPIPE):
		return 0, fmt.Errorf("lseek() to offset 0: %s", errnoText(err))
	}
	call, one := "pwrite() of 1 byte at offset 0", []byte{a.page[0]}
	oerr, err = a.onFresh(func(f devFile) (err error) {
		if read {
			_, err = f.ReadAt([]byte{0}, 0)
		} else {
			_, err = f.WriteAt(one, 0)
		}
		return err
	})
	if read {
		call = "pread() of 1 byte at offset 0"
	}
	switch {
	case oerr != nil:
		return 0, fmt.Errorf("open the device: %w", oerr)
	case err == nil, errors.Is(err, io.EOF):
		return byPread, nil
	case errors.Is(err, unix.ESPIPE):
		return inOrder, nil
	}
	return 0, ioError(call+" (lseek() answered ESPIPE)", 0, 1, err)
}

// readAt reads len(b) bytes at off, on a fresh descriptor, as pos says.
// Its error names the calls, the offset, the length and the errno.
func (a *agreement) readAt(pos positioning, b []byte, off int64) error {
	return a.at(pos, off, func(f devFile) error {
		var n int
		var err error
		call := fmt.Sprintf("read() of %d bytes at offset %d", len(b), off)
		switch pos {
		case bySeek:
			call = fmt.Sprintf("read() of %d bytes at offset %d, after lseek()", len(b), off)
			n, err = io.ReadFull(f, b)
		case byPread:
			call = fmt.Sprintf("pread() of %d bytes at offset %d", len(b), off)
			n, err = f.ReadAt(b, off)
		default:
			if skip, err := io.ReadFull(f, make([]byte, off)); err != nil {
				return ioError(fmt.Sprintf("read() of the %d bytes before offset %d (the device cannot seek)", off, off), skip, int(off), err)
			}
			n, err = io.ReadFull(f, b)
		}
		if err != nil {
			return ioError(call, n, len(b), err)
		}
		return nil
	})
}

// writeAt writes b at off, on a fresh descriptor, as pos says. On a
// device that cannot seek it first writes back the bytes the page holds
// before off. Its error names the calls, the offset, the length and the
// errno.
func (a *agreement) writeAt(pos positioning, b []byte, off int64) error {
	return a.at(pos, off, func(f devFile) error {
		var n int
		var err error
		call := fmt.Sprintf("write() of %d bytes at offset %d", len(b), off)
		switch pos {
		case bySeek:
			call = fmt.Sprintf("write() of %d bytes at offset %d, after lseek()", len(b), off)
			n, err = f.Write(b)
		case byPread:
			call = fmt.Sprintf("pwrite() of %d bytes at offset %d", len(b), off)
			n, err = f.WriteAt(b, off)
		default:
			before := append([]byte(nil), a.page[:off]...)
			if done, err := f.Write(before); err != nil {
				return ioError(fmt.Sprintf("write() of the %d bytes before offset %d (the device cannot seek)", off, off), done, int(off), err)
			}
			n, err = f.Write(b)
		}
		if err != nil {
			return ioError(call, n, len(b), err)
		}
		return nil
	})
}

// at opens the device, seeks to off when pos says so, and runs call.
func (a *agreement) at(pos positioning, off int64, call func(devFile) error) error {
	f, err := a.open()
	if err != nil {
		return fmt.Errorf("open the device: %w", err)
	}
	defer f.Close()
	if pos == bySeek {
		at, err := f.Seek(off, io.SeekStart)
		if err != nil {
			return fmt.Errorf("lseek() to offset %d: %s", off, errnoText(err))
		}
		if at != off {
			return fmt.Errorf("lseek() to offset %d returned offset %d", off, at)
		}
	}
	return call(f)
}
