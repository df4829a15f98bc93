package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// TestLayer2OptionsMeanWhatTheFlagsSay: --gratuitous-count=0 sends none and
// --refresh-interval=0 turns refreshing off; the announcer reads 0 as its default, so the
// flags must not reach it as 0.
func TestLayer2OptionsMeanWhatTheFlagsSay(t *testing.T) {
	cases := []struct {
		count, wantCount     int
		refresh, wantRefresh time.Duration
	}{
		{count: 0, wantCount: -1, refresh: 0, wantRefresh: -1},
		{count: 3, wantCount: 3, refresh: time.Minute, wantRefresh: time.Minute},
		{count: 1, wantCount: 1, refresh: time.Second, wantRefresh: time.Second},
	}
	for _, c := range cases {
		got := Options{GratuitousCount: c.count, RefreshInterval: c.refresh}.layer2Options()
		if got.GratuitousRate >= 0 {
			t.Errorf("--gratuitous-rate=0 reaches the announcer as %v, want negative (no bound)", got.GratuitousRate)
		}
		if got.GratuitousCount != c.wantCount || got.RefreshInterval != c.wantRefresh {
			t.Errorf("count %d, refresh %s: announcer gets count %d, refresh %s; want %d, %s",
				c.count, c.refresh, got.GratuitousCount, got.RefreshInterval, c.wantCount, c.wantRefresh)
		}
	}
}

// TestSplitBrainRecordIsBounded: replies from ever new MACs for owned addresses, and
// for addresses no longer owned, keep at most one record per owned address.
func TestSplitBrainRecordIsBounded(t *testing.T) {
	owned := map[netip.Addr][]string{}
	for i := range 4 {
		owned[netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})] = []string{"ns/svc"}
	}
	rec := &countingRecorder{}
	a := &layer2Reconciler{owners: owned, recorder: rec, logger: slog.New(slog.DiscardHandler)}
	for i := range 10000 {
		ip := netip.AddrFrom4([4]byte{198, 18, 0, byte(i%8 + 1)}) // half of them not owned
		mac := net.HardwareAddr{2, 0, byte(i >> 16), byte(i >> 8), byte(i), 1}
		a.foreignReply(ip, "eth0", mac)
	}
	if n := len(a.lastSplit); n > len(owned) {
		t.Fatalf("split-brain record holds %d entries for %d owned addresses", n, len(owned))
	}
	if rec.n != len(owned) {
		t.Fatalf("%d split-brain events for 10000 spoofed replies, want %d (one per owned address per minute)", rec.n, len(owned))
	}
}

// countingRecorder counts the events it is given.
type countingRecorder struct{ n int }

func (r *countingRecorder) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {
	r.n++
}

// TestReturnedSeesSpeakersComingBack: a re-announce follows a speaker coming back or
// this one refuting the others' verdict, not a speaker leaving, and not the first look.
func TestReturnedSeesSpeakersComingBack(t *testing.T) {
	var g gossipView
	steps := []struct {
		alive   []string
		refuted uint64
		want    bool
	}{
		{[]string{"a", "b", "c"}, 0, false}, // first reconcile
		{[]string{"a", "b", "c"}, 0, false}, // nothing changed
		{[]string{"a", "b"}, 0, false},      // c left
		{[]string{"a", "b", "c"}, 0, true},  // c is back
		{[]string{"a"}, 0, false},           // partition
		{[]string{"a", "b", "c"}, 0, true},  // healed
		{[]string{"a", "b", "c"}, 1, true},  // the others had us for dead; we refuted
		{[]string{"a", "b", "c"}, 1, false}, // nothing new
	}
	for i, s := range steps {
		alive := map[string][]string{}
		for _, n := range s.alive {
			alive[n] = nil
		}
		if got := g.returned(alive, s.refuted); got != s.want {
			t.Errorf("step %d (%v, %d refutations): returned = %v, want %v", i, s.alive, s.refuted, got, s.want)
		}
	}
}

// TestReadSecretsTakesTheKeysBesideThePrimary: the accepted keys of a rotation are the
// Secret's keys named after the primary with a suffix; kubelet's own entries and other
// files are not keys.
func TestReadSecretsTakesTheKeysBesideThePrimary(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"secretkey": "primary", "secretkey.next": "next", "secretkey.previous": "previous", "other": "no",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o700); err != nil {
		t.Fatal(err)
	}
	p, accepted, err := readSecrets(filepath.Join(dir, "secretkey"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range accepted {
		got = append(got, string(a))
	}
	slices.Sort(got)
	if string(p) != "primary" || !slices.Equal(got, []string{"next", "previous"}) {
		t.Fatalf("primary %q, accepted %q; want primary and [next previous]", p, got)
	}
	if _, _, err := readSecrets(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing primary file is no error")
	}
}

// TestPublishedInterfacesCarryTraffic: the interfaces a speaker tells the others about are
// those up with carrier, without loopback and pod links, so a node with a hundred pods
// still fits memberlist's metadata and a pod start changes nothing.
func TestPublishedInterfacesCarryTraffic(t *testing.T) {
	up := net.FlagUp | net.FlagRunning | net.FlagBroadcast
	ifs := []net.Interface{
		{Name: "lo", Flags: up | net.FlagLoopback},
		{Name: "eth0", Flags: up},
		{Name: "eth1", Flags: net.FlagUp | net.FlagBroadcast}, // up, no carrier: a pulled cable
		{Name: "eth2", Flags: net.FlagBroadcast},              // down
		{Name: "bond0.100", Flags: up},
	}
	for i := range 100 {
		ifs = append(ifs, net.Interface{Name: fmt.Sprintf("veth%08x", i), Flags: up})
	}
	got := publishable(ifs)
	if !slices.Equal(got, []string{"bond0.100", "eth0"}) {
		t.Fatalf("published %v, want [bond0.100 eth0]", got)
	}
	if _, err := encodeInterfaces(got); err != nil {
		t.Fatal(err)
	}
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("ens%dnp0", i))
	}
	if _, err := encodeInterfaces(many); err == nil || !strings.Contains(err.Error(), "more than memberlist's") {
		t.Fatalf("an oversized list gives %v, want an error saying so", err)
	}
}

// TestPodNameNeedsNamespace: the Gossip condition is written on the Pod in --namespace, so
// --pod-name alone is refused with the flag named.
func TestPodNameNeedsNamespace(t *testing.T) {
	o := Options{NodeName: "a", BGP: true, QPS: 1, Burst: 1, LogLevel: "info", PodName: "ironlb-speaker-x"}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--pod-name needs --namespace") {
		t.Errorf("--pod-name without --namespace: %v", err)
	}
	o.Namespace = "ironlb-system"
	if err := o.Validate(); err != nil && strings.Contains(err.Error(), "--pod-name") {
		t.Errorf("--pod-name with --namespace: %v", err)
	}
}
