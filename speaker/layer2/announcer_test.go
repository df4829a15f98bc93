package layer2

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSetOwnedRejectsBadEntries(t *testing.T) {
	a := New(quiet)
	defer a.Close()
	err := a.SetOwned(map[netip.Addr][]string{
		{}:                                   {"eth0"},
		netip.MustParseAddr("198.18.0.1"):    nil,
		netip.MustParseAddr("fe80::1"):       {"eth0"},
		netip.MustParseAddr("ff02::1"):       {"eth0"},
		netip.MustParseAddr("0.0.0.0"):       {"eth0"},
		netip.MustParseAddr("198.18.0.2"):    {""},
		netip.MustParseAddr("2001:db8::1%x"): {"eth0"},
	})
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 7 {
		t.Errorf("got %d errors, want 7:\n%v", n, err)
	}
	if len(a.listeners) != 0 || len(a.owned) != 0 {
		t.Errorf("bad entries opened listeners %v or claims %v", a.listeners, a.owned)
	}
}

func TestValidateUnmaps(t *testing.T) {
	want, errs := validate(map[netip.Addr][]string{netip.MustParseAddr("::ffff:198.18.0.1"): {"eth0", "eth1"}})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if !want[claimKey{netip.MustParseAddr("198.18.0.1"), "eth0"}] || !want[claimKey{netip.MustParseAddr("198.18.0.1"), "eth1"}] {
		t.Errorf("validate = %v", want)
	}
}

func TestOptionsDefaults(t *testing.T) {
	d := Options{}.withDefaults()
	if d.GratuitousCount != 3 || d.GratuitousInterval != 500*time.Millisecond || d.RefreshInterval != 60*time.Second || d.Logger == nil {
		t.Errorf("defaults = %+v", d)
	}
	off := Options{GratuitousCount: -1, RefreshInterval: -1}.withDefaults()
	if off.GratuitousCount != 0 || off.RefreshInterval != 0 {
		t.Errorf("negative values do not turn things off: %+v", off)
	}
}

func TestNilMetricsAreSafe(t *testing.T) {
	var m *Metrics
	m.request(v4)
	m.reply(v6)
	m.sentGratuitous(v4)
	m.foreignReply(v6)
	m.setOwned(1)
}
