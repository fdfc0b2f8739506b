package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// fakeDev is a device as the kernel and a driver answer for it: it shares
// page with the "mapping", as a correct driver does, and its hooks say
// which calls fail, at which offsets, with which errno.
type fakeDev struct {
	page []byte
	pos  int64
	// readErr and writeErr fail read() and write() at an offset; nil
	// hooks, or hooks that return nil, let them work.
	readErr, writeErr func(off int64) error
	// seekErr fails lseek(); posErr fails pread() and pwrite().
	seekErr, posErr error
	// stale makes read() return 0xff instead of the page's bytes, from
	// staleFrom on.
	stale     bool
	staleFrom int64
}

func pathErr(op string, err error) error { return &os.PathError{Op: op, Path: "/dev/mymap", Err: err} }

func hook(h func(int64) error, off int64) error {
	if h == nil {
		return nil
	}
	return h(off)
}

func (d *fakeDev) readAt(b []byte, off int64) (int, error) {
	if err := hook(d.readErr, off); err != nil {
		return 0, pathErr("read", err)
	}
	if off >= int64(len(d.page)) {
		return 0, io.EOF
	}
	if d.stale && off >= d.staleFrom {
		return copy(b, bytes.Repeat([]byte{0xff}, len(d.page)-int(off))), nil
	}
	return copy(b, d.page[off:]), nil
}

func (d *fakeDev) writeAt(b []byte, off int64) (int, error) {
	if err := hook(d.writeErr, off); err != nil {
		return 0, pathErr("write", err)
	}
	if off >= int64(len(d.page)) {
		return 0, pathErr("write", unix.ENOSPC)
	}
	return copy(d.page[off:], b), nil
}

func (d *fakeDev) Read(b []byte) (int, error) {
	n, err := d.readAt(b, d.pos)
	d.pos += int64(n)
	return n, err
}

func (d *fakeDev) Write(b []byte) (int, error) {
	n, err := d.writeAt(b, d.pos)
	d.pos += int64(n)
	return n, err
}

func (d *fakeDev) ReadAt(b []byte, off int64) (int, error) {
	if d.posErr != nil {
		return 0, pathErr("read", d.posErr)
	}
	n, err := d.readAt(b, off)
	if err == nil && n < len(b) {
		err = io.EOF
	}
	return n, err
}

func (d *fakeDev) WriteAt(b []byte, off int64) (int, error) {
	if d.posErr != nil {
		return 0, pathErr("write", d.posErr)
	}
	return d.writeAt(b, off)
}

func (d *fakeDev) Seek(off int64, whence int) (int64, error) {
	if d.seekErr != nil {
		return 0, pathErr("seek", d.seekErr)
	}
	d.pos = off
	return off, nil
}

func (d *fakeDev) Close() error { return nil }

// from fails a call with errno at offsets from off on.
func from(off int64, errno error) func(int64) error {
	return func(o int64) error {
		if o >= off {
			return errno
		}
		return nil
	}
}

// always fails a call with errno at every offset.
func always(errno error) func(int64) error { return from(0, errno) }

func runAgree(t *testing.T, d fakeDev) (wire.CaseResult, string) {
	t.Helper()
	page := make([]byte, 4096)
	for i := range 10 {
		page[i] = byte(i)
	}
	want := append([]byte(nil), page...)
	d.page = page
	a := &agreement{page: page, open: func() (devFile, error) {
		f := d // each open has its own position
		return &f, nil
	}}
	r, reason := a.check()
	if !bytes.Equal(page, want) {
		t.Errorf("the case left the page changed: starts % x", page[:16])
	}
	return r, reason
}

func TestUserKernelAgree(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dev    fakeDev
		result wire.CaseResult
		says   []string
	}{
		{"mymap: read, write, llseek", fakeDev{}, wire.Pass, nil},
		{"no llseek: pread and pwrite", fakeDev{seekErr: unix.ESPIPE}, wire.Pass, nil},
		{"nonseekable_open: in order from 0", fakeDev{seekErr: unix.ESPIPE, posErr: unix.ESPIPE}, wire.Pass, nil},
		{"read refuses offset 200", fakeDev{readErr: from(200, unix.EINVAL)}, wire.Fail,
			[]string{"read() of 9 bytes at offset 200, after lseek(): EINVAL (invalid argument)", "read() at offset 0 worked"}},
		{"pread refuses offset 200", fakeDev{seekErr: unix.ESPIPE, readErr: from(200, unix.EINVAL)}, wire.Fail,
			[]string{"pread() of 9 bytes at offset 200: EINVAL"}},
		{"read refuses offset 200 with EOPNOTSUPP", fakeDev{readErr: from(200, unix.EOPNOTSUPP)}, wire.Fail,
			[]string{"read() of 9 bytes at offset 200, after lseek(): EOPNOTSUPP"}},
		{"write refuses offset 300", fakeDev{writeErr: from(300, unix.EINVAL)}, wire.Fail,
			[]string{"write() of 9 bytes at offset 300, after lseek(): EINVAL", "write() at offset 0 worked"}},
		{"pwrite refuses offset 300, no read", fakeDev{seekErr: unix.ESPIPE, readErr: always(unix.EINVAL), writeErr: from(300, unix.ENOSYS)}, wire.Fail,
			[]string{"pwrite() of 9 bytes at offset 300: ENOSYS"}},
		{"read ends before offset 200", fakeDev{readErr: func(o int64) error {
			if o >= 200 {
				return io.EOF
			}
			return nil
		}}, wire.Fail, []string{"read() of 9 bytes at offset 200, after lseek(): the driver returned 0 after 0 of 9 bytes"}},
		{"read fails at offset 0 with EIO", fakeDev{readErr: always(unix.EIO)}, wire.Fail,
			[]string{"read() of 1 byte at offset 0: EIO (input/output error)"}},
		{"read fails at offset 0 with ENOTTY", fakeDev{readErr: always(unix.ENOTTY)}, wire.Fail,
			[]string{"read() of 1 byte at offset 0: ENOTTY"}},
		{"write fails at offset 0 with EFAULT", fakeDev{writeErr: always(unix.EFAULT)}, wire.Fail,
			[]string{"write() of 1 byte at offset 0: EFAULT"}},
		{"llseek refuses offset 0", fakeDev{seekErr: unix.EINVAL}, wire.Fail, []string{"lseek() to offset 0: EINVAL"}},
		{"read returns other bytes at offset 0", fakeDev{stale: true}, wire.Fail, []string{"read() at offset 0 returned 0xff; the mapping holds 0x0"}},
		{"read returns other bytes at offset 200", fakeDev{stale: true, staleFrom: 100}, wire.Fail,
			[]string{`wrote "from-user" through the mapping at 200; read() returned "\xff\xff`}},
		{"mmap only", fakeDev{seekErr: unix.ESPIPE, readErr: always(unix.EINVAL), writeErr: always(unix.EINVAL)}, wire.Skip,
			[]string{"no read() or write(): the driver has no read() and no write()", "read() of 1 byte at offset 0 returned EINVAL", "write() of 1 byte at offset 0 returned EINVAL"}},
		{"no write", fakeDev{writeErr: always(unix.EINVAL)}, wire.Skip,
			[]string{"no write(): the driver has no write() (write() of 1 byte at offset 0 returned EINVAL (invalid argument)); read() agrees"}},
		{"no read, a stub", fakeDev{readErr: always(unix.EOPNOTSUPP)}, wire.Skip,
			[]string{"no read(): the driver has no read() (read() of 1 byte at offset 0 returned EOPNOTSUPP", "write() agrees"}},
		{"no read, write refuses offset 300", fakeDev{readErr: always(unix.EINVAL), writeErr: from(300, unix.EINVAL)}, wire.Fail,
			[]string{"write() of 9 bytes at offset 300, after lseek(): EINVAL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, reason := runAgree(t, tc.dev)
			if r != tc.result {
				t.Fatalf("result %s (%s), want %s", r, reason, tc.result)
			}
			for _, s := range tc.says {
				if !strings.Contains(reason, s) {
					t.Errorf("the reason %q does not say %q", reason, s)
				}
			}
			if r == wire.Pass && reason != "" {
				t.Errorf("a pass with a reason: %q", reason)
			}
		})
	}
}

func TestJudgeFirst(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want presence
	}{
		{nil, present},
		{io.EOF, present},
		{pathErr("read", unix.EINVAL), absent},
		{pathErr("read", unix.EOPNOTSUPP), absent},
		{pathErr("write", unix.ENOSYS), absent},
		{pathErr("read", unix.EIO), broken},
		{pathErr("read", unix.ENOTTY), broken},
		{pathErr("read", unix.EFAULT), broken},
		{pathErr("read", unix.ESPIPE), broken},
		{io.ErrUnexpectedEOF, broken},
		{errors.New("no errno"), broken},
	} {
		if got := judgeFirst(tc.err); got != tc.want {
			t.Errorf("judgeFirst(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestErrnoText(t *testing.T) {
	for err, want := range map[error]string{
		pathErr("read", unix.EINVAL):            "EINVAL (invalid argument)",
		fmt.Errorf("x: %w", unix.EOPNOTSUPP):    "EOPNOTSUPP (operation not supported)",
		errors.New("something else went wrong"): "something else went wrong",
		pathErr("read", unix.Errno(524)):        "read /dev/mymap: errno 524",
	} {
		if got := errnoText(err); got != want {
			t.Errorf("errnoText(%v) = %q, want %q", err, got, want)
		}
	}
}
