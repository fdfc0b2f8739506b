package main

import (
	"slices"
	"testing"
)

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		rec  string
		want record
		ok   bool
	}{
		{"6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n",
			record{6, 339, []string{"[    5.140900] NET: Registered protocol family 10"}}, true},
		{"4,12,1000,-;WARNING: CPU: 0 PID: 1 at mymap.c:12 mymap_mmap+0x1/0x2 [mymap]\n",
			record{4, 12, []string{"[    0.001000] WARNING: CPU: 0 PID: 1 at mymap.c:12 mymap_mmap+0x1/0x2 [mymap]"}}, true},
		{`12,7,2000000,c;one\x0atwo \x5c end` + "\n",
			record{4, 7, []string{"[    2.000000] one", `[    2.000000] two \ end`}}, true},
		{"garbage", record{}, false},
		{"x,1,2,-;text\n", record{}, false},
		{"4,y,2,-;text\n", record{}, false},
	} {
		got, ok := parseRecord([]byte(tc.rec))
		if ok != tc.ok || got.level != tc.want.level || got.seq != tc.want.seq || !slices.Equal(got.lines, tc.want.lines) {
			t.Errorf("parseRecord(%q) = %+v, %v; want %+v, %v", tc.rec, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTake(t *testing.T) {
	var k kmsg
	if k.take(6, "[    1.000000] mymap: hello") != drop {
		t.Error("an info record was forwarded with no report open")
	}
	if k.take(4, "[    1.000000] mymap: loading out-of-tree module taints kernel.") != forward {
		t.Error("a warning was not forwarded")
	}
	if k.take(4, "[    1.100000] BUG: kernel NULL pointer dereference, address: 0000000000000000") != forward {
		t.Error("a report's header was not forwarded")
	}
	if k.take(7, "[    1.100000]  mymap_mmap+0x1c/0x40 [mymap]") != forward {
		t.Error("a trace line at debug level inside a report was not forwarded")
	}
	for range reportWindow {
		k.take(7, "[    1.2] filler")
	}
	if k.take(7, "[    1.3] after the window") != drop {
		t.Error("a debug record long after the report was forwarded")
	}
}

// A module that floods the log with warnings reaches the cap, but a
// report after the flood is still forwarded whole.
func TestTakeCapsFloodsNotReports(t *testing.T) {
	var k kmsg
	for range maxForward {
		k.take(4, "[    1.0] flood: warning")
	}
	if k.take(4, "[    1.0] flood: one more") != capped {
		t.Error("a warning past the cap was not capped")
	}
	if k.take(4, "[    2.0] WARNING: CPU: 0 PID: 1 at m.c:1 m_fn+0x1/0x2 [m]") != forward {
		t.Error("a report after a flood was not forwarded")
	}
	if k.take(6, "[    2.0] RIP: 0010:m_fn+0x1/0x2 [m]") != forward {
		t.Error("a report's body after a flood was not forwarded")
	}
	for range maxReports {
		k.take(4, "[    3.0] WARNING: CPU: 0 PID: 1 at m.c:1 m_fn+0x1/0x2 [m]")
	}
	if k.take(4, "[    4.0] WARNING: CPU: 0 PID: 1 at m.c:1 m_fn+0x1/0x2 [m]") != capped {
		t.Errorf("report %d was forwarded; the cap is %d", maxReports+2, maxReports)
	}
}
