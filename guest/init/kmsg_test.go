package main

import (
	"slices"
	"testing"
)

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		rec   string
		level int
		lines []string
		ok    bool
	}{
		{"6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n", 6,
			[]string{"[    5.140900] NET: Registered protocol family 10"}, true},
		{"4,12,1000,-;WARNING: CPU: 0 PID: 1 at mymap.c:12 mymap_mmap+0x1/0x2 [mymap]\n", 4,
			[]string{"[    0.001000] WARNING: CPU: 0 PID: 1 at mymap.c:12 mymap_mmap+0x1/0x2 [mymap]"}, true},
		{`12,7,2000000,c;one\x0atwo \x5c end` + "\n", 4,
			[]string{"[    2.000000] one", `[    2.000000] two \ end`}, true},
		{"garbage", 0, nil, false},
		{"x,1,2,-;text\n", 0, nil, false},
	} {
		level, lines, ok := parseRecord([]byte(tc.rec))
		if ok != tc.ok || level != tc.level || !slices.Equal(lines, tc.lines) {
			t.Errorf("parseRecord(%q) = %d, %q, %v; want %d, %q, %v", tc.rec, level, lines, ok, tc.level, tc.lines, tc.ok)
		}
	}
}

func TestTake(t *testing.T) {
	var k kmsg
	if k.take(6, "[    1.000000] mymap: hello") {
		t.Error("an info record was forwarded with no report open")
	}
	if !k.take(4, "[    1.000000] mymap: loading out-of-tree module taints kernel.") {
		t.Error("a warning was not forwarded")
	}
	if !k.take(4, "[    1.100000] BUG: kernel NULL pointer dereference, address: 0000000000000000") {
		t.Error("a report's header was not forwarded")
	}
	if !k.take(7, "[    1.100000]  mymap_mmap+0x1c/0x40 [mymap]") {
		t.Error("a trace line at debug level inside a report was not forwarded")
	}
	for range reportWindow {
		k.take(7, "[    1.2] filler")
	}
	if k.take(7, "[    1.3] after the window") {
		t.Error("a debug record long after the report was forwarded")
	}
}
