package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// A request is decoded as strictly as an event: a rig and an init that
// disagree on the wire say so instead of dropping a field.
func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		line, err string
	}{
		{`{"power_off":true}`, ""},
		{`{"work":{"nonce":"n","config":{"channel":"serial","devices":[{"path":"/dev/x"},{"path":"/dev/s0","driver":"scull","minor":1}],"modules":["/mmaprig/module.ko"],"load_timeout_ms":1,"device_timeout_ms":1,"programs":null,"unload":true,"unload_timeout_ms":1}}}`, ""},
		// A rig from before several devices.
		{`{"work":{"nonce":"n","config":{"channel":"serial","device":"/dev/x","modules":["/mmaprig/module.ko"]}}}`, `not a request: json: unknown field "device"`},
		{`{"work":{"nonce":"n","config":{"devices":[{"path":"/dev/x","major":3}],"modules":["/mmaprig/module.ko"]}}}`, `not a request: json: unknown field "major"`},
		{`{"work":{"nonce":"n","module":"AAAA","config":{"modules":["/mmaprig/module.ko"]}}}`, `not a request: json: unknown field "module"`},
		{`{"work":{"nonce":"n","config":{"channel":"serial"}}}`, "not a request: its work names no module to load"},
		{`{"settle":true} {}`, "not a request: trailing data after the JSON object"},
	} {
		_, err := DecodeRequest([]byte(tc.line))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("%s: error %q; want %q", tc.line, got, tc.err)
		}
	}
}

// A work's files travel raw after its line, and come back whole, with a
// request after them; a file whose data is in the line, or whose size
// passes MaxWork, or that is cut off, is refused.
func TestReadRequest(t *testing.T) {
	ko := []byte("\x7fELF\nwith\nnewlines\x00")
	w := &Work{Nonce: "n", Config: Config{Modules: []string{ModulePath}},
		Files: []File{{Path: ModulePath, Data: ko, Mode: 0o644}, {Path: "/t", Data: []byte{}, Mode: 0o755}, {Path: "/u", Data: []byte("u"), Mode: 0o755}}}
	var stream []byte
	for _, req := range []Request{{HostMS: 1}, {Work: w}, {HostMS: 2}} {
		b, err := MarshalRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, b...)
	}
	if bytes.Contains(stream, []byte(`"data":"`)) {
		t.Errorf("a file's data went in the JSON: %q", stream)
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	var got []Request
	for {
		req, err := ReadRequest(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, req)
	}
	if len(got) != 3 || got[0].HostMS != 1 || got[2].HostMS != 2 || got[1].Work == nil {
		t.Fatalf("requests %+v; want a tick, the work, a tick", got)
	}
	for i, f := range got[1].Work.Files {
		if want := w.Files[i]; f.Path != want.Path || !bytes.Equal(f.Data, want.Data) || f.Mode != want.Mode {
			t.Errorf("file %d: %q %q %o; want %q %q %o", i, f.Path, f.Data, f.Mode, want.Path, want.Data, want.Mode)
		}
	}
	for _, tc := range []struct{ name, msg, err string }{
		{"data in the line", `{"work":{"nonce":"n","config":{"modules":["/m"]},"files":[{"path":"/m","data":"AAAA","mode":420}]}}` + "\n", "its data must follow the line"},
		{"too big", `{"work":{"nonce":"n","config":{"modules":["/m"]},"files":[{"path":"/m","size":134217729,"mode":420}]}}` + "\n", "its data must follow the line"},
		{"negative", `{"work":{"nonce":"n","config":{"modules":["/m"]},"files":[{"path":"/m","size":-1,"mode":420}]}}` + "\n", "its data must follow the line"},
		{"cut off", `{"work":{"nonce":"n","config":{"modules":["/m"]},"files":[{"path":"/m","size":10,"mode":420}]}}` + "\nabc", "read file /m of the work: unexpected EOF"},
	} {
		_, err := ReadRequest(bufio.NewReader(strings.NewReader(tc.msg)))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v; want one that says %q", tc.name, err, tc.err)
		}
	}
}

func TestModulePaths(t *testing.T) {
	for _, tc := range []struct{ files, want []string }{
		{[]string{"/cache/m/x.ko"}, []string{ModulePath}},
		{[]string{"/c/sub/core.ko", "/c/dev.ko"}, []string{DepsDir + "/core.ko", ModulePath}},
		{nil, []string{}},
	} {
		if got := ModulePaths(tc.files); !slices.Equal(got, tc.want) || strings.Contains(strings.Join(got, ""), "/c/") {
			t.Errorf("%q: %q, want %q", tc.files, got, tc.want)
		}
	}
}

func TestSettledEarly(t *testing.T) {
	if early := Settled(SettleEarlyMS*time.Millisecond, "nothing of the module's armed (3 traced events)"); !SettledEarly(early) {
		t.Errorf("SettledEarly(%q) = false", early)
	}
	for _, cmd := range []string{"1.1s", "1.1s: the whole window: timer_start of 0xffffffffc0002010", ""} {
		if SettledEarly(cmd) {
			t.Errorf("SettledEarly(%q) = true", cmd)
		}
	}
}
