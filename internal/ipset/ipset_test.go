package ipset

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func rng(first, last string) Range { return Range{First: addr(first), Last: addr(last)} }

func TestFamily(t *testing.T) {
	tests := []struct {
		a    string
		want Family
		str  string
	}{
		{"198.18.0.1", IPv4, "IPv4"},
		{"2001:db8::1", IPv6, "IPv6"},
		{"::ffff:1.2.3.4", IPv6, "IPv6"},
	}
	for _, tt := range tests {
		if got := FamilyOf(addr(tt.a)); got != tt.want || got.String() != tt.str {
			t.Errorf("FamilyOf(%s) = %v (%q), want %v (%q)", tt.a, int(got), got, int(tt.want), tt.str)
		}
	}
	if got := FamilyOf(netip.Addr{}); got != 0 {
		t.Errorf("FamilyOf(invalid) = %v, want 0", got)
	}
	if got := Family(5).String(); got != "Family(5)" {
		t.Errorf("Family(5).String() = %q", got)
	}
}

func TestParseRange(t *testing.T) {
	good := []struct {
		in   string
		want Range
	}{
		{"198.18.0.0/24", rng("198.18.0.0", "198.18.0.255")},
		{"198.18.0.7/32", rng("198.18.0.7", "198.18.0.7")},
		{"0.0.0.0/0", rng("0.0.0.0", "255.255.255.255")},
		{"198.18.0.10-198.18.0.20", rng("198.18.0.10", "198.18.0.20")},
		{"198.18.0.10 - 198.18.0.20", rng("198.18.0.10", "198.18.0.20")},
		{"  198.18.0.10 -198.18.0.20\t", rng("198.18.0.10", "198.18.0.20")},
		{"198.18.0.10-198.18.0.10", rng("198.18.0.10", "198.18.0.10")},
		{"\n198.18.1.0/25 ", rng("198.18.1.0", "198.18.1.127")},
		{"2001:db8::/64", rng("2001:db8::", "2001:db8::ffff:ffff:ffff:ffff")},
		{"2001:DB8::/127", rng("2001:db8::", "2001:db8::1")},
		{"::/0", rng("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
		{"2001:db8::1/128", rng("2001:db8::1", "2001:db8::1")},
		{"2001:db8::5-2001:db8::1:0", rng("2001:db8::5", "2001:db8::1:0")},
		// Found by FuzzSetOps: the last address lies in ::ffff:0:0/96, which
		// must not make the range invalid.
		{"::/80", rng("::", "::ffff:255.255.255.255")},
		{"::1.2.3.4/128", rng("::102:304", "::102:304")}, // IPv4-compatible, not mapped
	}
	for _, tt := range good {
		got, err := ParseRange(tt.in)
		if err != nil {
			t.Errorf("ParseRange(%q) error: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRange(%q) = %v-%v, want %v-%v", tt.in, got.First, got.Last, tt.want.First, tt.want.Last)
		}
	}

	bad := []struct {
		in string
		// every phrase must appear in the error message
		phrases []string
	}{
		{"", []string{"empty", "198.18.0.0/24"}},
		{"   ", []string{"empty"}},
		{"garbage", []string{`"garbage"`, "not a CIDR", "198.18.0.10-198.18.0.20"}},
		{"198.18.0.5/24", []string{`"198.18.0.5/24" has host bits set; did you mean "198.18.0.0/24"?`}},
		{"2001:db8::1/64", []string{"host bits", `"2001:db8::/64"`}},
		{"198.18.0.5", []string{"without a prefix length", `"198.18.0.5/32"`}},
		{"2001:db8::5", []string{"without a prefix length", `"2001:db8::5/128"`}},
		{"198.18.0.0/33", []string{"prefix length", `"33"`, "0 to 32"}},
		{"2001:db8::/129", []string{"prefix length", "0 to 128"}},
		{"198.18.0.0/-1", []string{"-"}},
		{"198.18.0.0/", []string{"prefix length"}},
		{"198.18.0.0/024", []string{"prefix length"}},
		{"198.18.0.0/24/8", []string{"prefix length"}},
		{"198.18.0/24", []string{"valid IP address"}},
		{"::ffff:198.18.0.5", []string{"IPv4-mapped", `"198.18.0.5/32"`}},
		{"::ffff:198.18.0.0/120", []string{"IPv4-mapped", `"198.18.0.0/24"`}},
		{"::ffff:0:0/64", []string{"IPv4-mapped", "plain IPv4"}},
		{"::ffff:102:304/128", []string{"IPv4-mapped", `"1.2.3.4/32"`}},
		{"::ffff:1.2.3.4-::ffff:1.2.3.9", []string{"IPv4-mapped", `"1.2.3.4"`}},
		{"fe80::1%eth0", []string{"zone", `"%eth0"`}},
		{"fe80::%eth0/64", []string{"zone", `"%eth0"`}},
		{"fe80::1%eth0-fe80::9", []string{"zone"}},
		{"198.18.0.20-198.18.0.10", []string{"first address 198.18.0.20 after its last address 198.18.0.10", `"198.18.0.10-198.18.0.20"`}},
		{"2001:db8::9-2001:db8::1", []string{"after its last"}},
		{"198.18.0.1-2001:db8::1", []string{"mixes IPv4 and IPv6"}},
		{"198.18.0.1-", []string{"missing an address"}},
		{"-198.18.0.1", []string{"missing an address"}},
		{"198.18.0.1-198.18.0.2-198.18.0.3", []string{"more than one"}},
		{"198.18.0.0/24-198.18.1.0", []string{"mixes a CIDR with a range"}},
		{"198.18.0.1-198.18.0.x", []string{"last address", `"198.18.0.x"`}},
		{"198.18.0.x-198.18.0.1", []string{"first address", `"198.18.0.x"`}},
		{"198.18.0.1 198.18.0.2", []string{"not a CIDR"}},
	}
	for _, tt := range bad {
		got, err := ParseRange(tt.in)
		if err == nil {
			t.Errorf("ParseRange(%q) = %v, want error", tt.in, got)
			continue
		}
		for _, p := range tt.phrases {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("ParseRange(%q) error %q does not mention %q", tt.in, err, p)
			}
		}
	}
}

func TestRangeString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"198.18.0.0/24", "198.18.0.0/24"},
		{"198.18.0.0-198.18.0.255", "198.18.0.0/24"},
		{"198.18.0.10 - 198.18.0.20", "198.18.0.10-198.18.0.20"},
		{"198.18.0.0-198.18.1.255", "198.18.0.0/23"},
		{"198.18.1.0-198.18.2.255", "198.18.1.0-198.18.2.255"}, // two blocks, not one prefix
		{"198.18.0.1-198.18.0.1", "198.18.0.1/32"},
		{"0.0.0.0-255.255.255.255", "0.0.0.0/0"},
		{"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		{"2001:db8::-2001:db8::ffff", "2001:db8::/112"},
		{"2001:db8::1-2001:db8::ffff", "2001:db8::1-2001:db8::ffff"},
		{"2001:DB8::/64", "2001:db8::/64"},
		{"::/80", "::/80"},
		{"::1:0:0-::fffe:0:1", "::1:0:0-::fffe:0:1"},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.in)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", tt.in, err)
		}
		if got := r.String(); got != tt.want {
			t.Errorf("ParseRange(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseRange(r.String())
		if err != nil || back != r {
			t.Errorf("round trip of %q via %q = %v, %v", tt.in, r.String(), back, err)
		}
	}
	// Ranges cut out of wide IPv6 ranges can start or end in ::ffff:0:0/96;
	// they print in hex so as not to look like IPv4.
	for _, tt := range []struct {
		r    Range
		want string
	}{
		{rng("::ffff:0:0", "::ffff:255.255.255.255"), "::ffff:0:0/96"},
		{rng("::1:0:0", "::ffff:1.2.3.4"), "::1:0:0-::ffff:102:304"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	if got := (Range{}).String(); got != "invalid Range" {
		t.Errorf("zero Range String() = %q", got)
	}
}

func pow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

func TestRangeSize(t *testing.T) {
	tests := []struct {
		in   string
		want *big.Int
	}{
		{"198.18.0.1/32", big.NewInt(1)},
		{"198.18.0.0/24", big.NewInt(256)},
		{"198.18.0.10-198.18.0.20", big.NewInt(11)},
		{"0.0.0.0/0", pow2(32)},
		{"2001:db8::/64", pow2(64)},
		{"::/0", pow2(128)},
		{"::/1", pow2(127)},
		{"2001:db8::1/128", big.NewInt(1)},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.in)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", tt.in, err)
		}
		if got := r.Size(); got.Cmp(tt.want) != 0 {
			t.Errorf("Size(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := (Range{First: addr("1.2.3.9"), Last: addr("1.2.3.1")}).Size(); got.Sign() != 0 {
		t.Errorf("Size of backwards range = %v, want 0", got)
	}
}

func TestRangeContains(t *testing.T) {
	r := rng("198.18.0.10", "198.18.0.20")
	tests := []struct {
		a    netip.Addr
		want bool
	}{
		{addr("198.18.0.9"), false},
		{addr("198.18.0.10"), true},
		{addr("198.18.0.15"), true},
		{addr("198.18.0.20"), true},
		{addr("198.18.0.21"), false},
		{addr("::ffff:198.18.0.15"), false},
		{netip.Addr{}, false},
	}
	for _, tt := range tests {
		if got := r.Contains(tt.a); got != tt.want {
			t.Errorf("%v.Contains(%v) = %v, want %v", r, tt.a, got, tt.want)
		}
	}
	r6 := MustParse("fe80::/64").Ranges()[0]
	if !r6.Contains(addr("fe80::1")) || r6.Contains(addr("fe80::1%eth0")) {
		t.Errorf("zoned address handling wrong for %v", r6)
	}
	if r.Family() != IPv4 || r6.Family() != IPv6 {
		t.Errorf("Family() = %v, %v", r.Family(), r6.Family())
	}
}

func TestParseErrorNamesEntry(t *testing.T) {
	_, err := Parse([]string{"198.18.0.0/24", "2001:db8::/64", "198.18.1.5/24"})
	if err == nil {
		t.Fatal("want error")
	}
	for _, p := range []string{"entry 2", `"198.18.1.5/24"`, `"198.18.1.0/24"`} {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
	s, err := Parse(nil)
	if err != nil || !s.IsEmpty() {
		t.Errorf("Parse(nil) = %v, %v; want empty set", s, err)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse did not panic on bad input")
		}
	}()
	MustParse("198.18.0.0/24", "nope")
}

func TestNewPanicsOnInvalidRange(t *testing.T) {
	bad := []Range{
		{},
		rng("198.18.0.9", "198.18.0.1"),
		rng("198.18.0.1", "2001:db8::1"),
		rng("::ffff:1.2.3.4", "1.2.3.5"),
		rng("fe80::1%eth0", "fe80::2%eth0"),
	}
	for _, r := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%v-%v) did not panic", r.First, r.Last)
				}
			}()
			New(r)
		}()
	}
}

func TestNormalisation(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"empty", nil, ""},
		{"single", []string{"198.18.0.0/24"}, "198.18.0.0/24"},
		{"duplicate", []string{"198.18.0.0/24", "198.18.0.0/24"}, "198.18.0.0/24"},
		{"contained", []string{"198.18.0.0/24", "198.18.0.10-198.18.0.20"}, "198.18.0.0/24"},
		{"overlap", []string{"198.18.0.10-198.18.0.20", "198.18.0.15-198.18.0.30"}, "198.18.0.10-198.18.0.30"},
		{"adjacent", []string{"198.18.0.0/25", "198.18.0.128/25"}, "198.18.0.0/24"},
		{"adjacent reversed", []string{"198.18.0.128/25", "198.18.0.0/25"}, "198.18.0.0/24"},
		{"gap of one", []string{"198.18.0.1-198.18.0.4", "198.18.0.6-198.18.0.9"}, "198.18.0.1-198.18.0.4, 198.18.0.6-198.18.0.9"},
		{"chain", []string{"198.18.0.7/32", "198.18.0.5-198.18.0.6", "198.18.0.8-198.18.0.9", "198.18.0.4/32"}, "198.18.0.4-198.18.0.9"},
		{"families ordered", []string{"2001:db8::/64", "198.18.0.0/24", "10.0.0.0/8"}, "10.0.0.0/8, 198.18.0.0/24, 2001:db8::/64"},
		{"no merge across families", []string{"::/0", "255.255.255.255/32"}, "255.255.255.255/32, ::/0"},
		{"top of v4 and v6", []string{"255.255.255.0/24", "255.255.255.254/31", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"}, "255.255.255.0/24, ::/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkNormalized(t, s)
			// The String form must parse back to the same set.
			var parts []string
			if str := s.String(); str != "" {
				parts = strings.Split(str, ",")
			}
			if back := MustParse(parts...); !back.Equal(s) {
				t.Errorf("round trip of %q = %q", s, back)
			}
		})
	}
}

// checkNormalized fails t unless s satisfies the Set invariants.
func checkNormalized(t testing.TB, s Set) {
	t.Helper()
	for i, r := range s.ranges {
		if !r.valid() {
			t.Fatalf("range %d (%v-%v) invalid in %v", i, r.First, r.Last, s)
		}
		if i == 0 {
			continue
		}
		prev := s.ranges[i-1]
		if prev.Last.Compare(r.First) >= 0 {
			t.Fatalf("ranges %d and %d overlap or are out of order in %v", i-1, i, s)
		}
		if prev.Last.Next() == r.First {
			t.Fatalf("ranges %d and %d are adjacent but not merged in %v", i-1, i, s)
		}
	}
}

func TestRangesIsACopy(t *testing.T) {
	s := MustParse("198.18.0.0/24")
	rs := s.Ranges()
	rs[0].First = addr("1.1.1.1")
	if s.String() != "198.18.0.0/24" {
		t.Errorf("mutating Ranges() changed the set: %v", s)
	}
	in := []Range{rng("198.18.0.5", "198.18.0.9"), rng("198.18.0.1", "198.18.0.2")}
	New(in...)
	if in[0] != rng("198.18.0.5", "198.18.0.9") {
		t.Errorf("New reordered its argument: %v", in)
	}
}

func TestSetContains(t *testing.T) {
	s := MustParse("198.18.0.10-198.18.0.20", "198.18.0.30/31", "0.0.0.0/32", "2001:db8::/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")
	tests := []struct {
		a    string
		want bool
	}{
		{"0.0.0.0", true},
		{"0.0.0.1", false},
		{"198.18.0.9", false},
		{"198.18.0.10", true},
		{"198.18.0.20", true},
		{"198.18.0.21", false},
		{"198.18.0.29", false},
		{"198.18.0.30", true},
		{"198.18.0.31", true},
		{"198.18.0.32", false},
		{"255.255.255.255", false},
		{"::", false},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
		{"2001:db8::", true},
		{"2001:db8::1", true},
		{"2001:db8::2", false},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", false},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"::ffff:198.18.0.15", false},
		{"2001:db8::1%eth0", false},
	}
	for _, tt := range tests {
		if got := s.Contains(addr(tt.a)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.a, got, tt.want)
		}
	}
	if s.Contains(netip.Addr{}) {
		t.Error("Contains(invalid) = true")
	}
	wide := MustParse("::/80")
	if !wide.Contains(addr("::ffff:1.2.3.4")) || wide.Contains(addr("1.2.3.4")) {
		t.Error("::/80 must hold ::ffff:1.2.3.4 as an IPv6 address and not 1.2.3.4")
	}
	if (Set{}).Contains(addr("198.18.0.10")) {
		t.Error("zero Set contains an address")
	}
}

func TestSetOps(t *testing.T) {
	tests := []struct {
		name                       string
		a, b                       []string
		overlaps                   bool
		intersect, union, subtract string // subtract is a minus b
	}{
		{
			name:      "both empty",
			intersect: "", union: "", subtract: "",
		},
		{
			name: "empty b", a: []string{"198.18.0.0/24"},
			intersect: "", union: "198.18.0.0/24", subtract: "198.18.0.0/24",
		},
		{
			name: "empty a", b: []string{"198.18.0.0/24"},
			intersect: "", union: "198.18.0.0/24", subtract: "",
		},
		{
			name: "disjoint", a: []string{"198.18.0.0/25"}, b: []string{"198.18.1.0/25"},
			intersect: "", union: "198.18.0.0/25, 198.18.1.0/25", subtract: "198.18.0.0/25",
		},
		{
			name: "adjacent", a: []string{"198.18.0.0/25"}, b: []string{"198.18.0.128/25"},
			intersect: "", union: "198.18.0.0/24", subtract: "198.18.0.0/25",
		},
		{
			name: "touching at one address", a: []string{"198.18.0.0-198.18.0.10"}, b: []string{"198.18.0.10-198.18.0.20"},
			overlaps:  true,
			intersect: "198.18.0.10/32", union: "198.18.0.0-198.18.0.20", subtract: "198.18.0.0-198.18.0.9",
		},
		{
			name: "hole in the middle", a: []string{"198.18.0.0/24"}, b: []string{"198.18.0.10-198.18.0.20"},
			overlaps:  true,
			intersect: "198.18.0.10-198.18.0.20", union: "198.18.0.0/24",
			subtract: "198.18.0.0-198.18.0.9, 198.18.0.21-198.18.0.255",
		},
		{
			name: "b covers a", a: []string{"198.18.0.10-198.18.0.20"}, b: []string{"198.18.0.0/24"},
			overlaps:  true,
			intersect: "198.18.0.10-198.18.0.20", union: "198.18.0.0/24", subtract: "",
		},
		{
			name: "many holes", a: []string{"198.18.0.0/28", "198.18.0.32/28"},
			b:         []string{"198.18.0.0/32", "198.18.0.5/32", "198.18.0.15-198.18.0.33", "198.18.0.47/32"},
			overlaps:  true,
			intersect: "198.18.0.0/32, 198.18.0.5/32, 198.18.0.15/32, 198.18.0.32/31, 198.18.0.47/32",
			union:     "198.18.0.0-198.18.0.47",
			subtract:  "198.18.0.1-198.18.0.4, 198.18.0.6-198.18.0.14, 198.18.0.34-198.18.0.46",
		},
		{
			name: "overlap only with a later range", a: []string{"198.18.0.1-198.18.0.2", "198.18.0.10-198.18.0.11"}, b: []string{"198.18.0.5-198.18.0.20"},
			overlaps:  true,
			intersect: "198.18.0.10/31", union: "198.18.0.1-198.18.0.2, 198.18.0.5-198.18.0.20",
			subtract: "198.18.0.1-198.18.0.2",
		},
		{
			name: "one hole spans two ranges", a: []string{"198.18.0.0/30", "198.18.0.8/30"}, b: []string{"198.18.0.2-198.18.0.9"},
			overlaps:  true,
			intersect: "198.18.0.2/31, 198.18.0.8/31", union: "198.18.0.0-198.18.0.11",
			subtract: "198.18.0.0/31, 198.18.0.10/31",
		},
		{
			name: "families do not mix", a: []string{"198.18.0.0/24"}, b: []string{"2001:db8::/64"},
			intersect: "", union: "198.18.0.0/24, 2001:db8::/64", subtract: "198.18.0.0/24",
		},
		{
			name: "dual stack", a: []string{"198.18.0.0/24", "2001:db8::/64"}, b: []string{"198.18.0.128/25", "2001:db8::/120", "::/0"},
			overlaps:  true,
			intersect: "198.18.0.128/25, 2001:db8::/64", union: "198.18.0.0/24, ::/0",
			subtract: "198.18.0.0/25",
		},
		{
			name: "wide IPv6 cut down to the mapped block", a: []string{"::/80"}, b: []string{"::-::fffe:ffff:ffff"},
			overlaps:  true,
			intersect: "::-::fffe:ffff:ffff", union: "::/80", subtract: "::ffff:0:0/96",
		},
		{
			name: "subtract at the top of each family", a: []string{"0.0.0.0/0", "::/0"},
			b:         []string{"255.255.255.255/32", "::/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
			overlaps:  true,
			intersect: "255.255.255.255/32, ::/128, ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
			union:     "0.0.0.0/0, ::/0",
			subtract:  "0.0.0.0-255.255.255.254, ::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := MustParse(tt.a...), MustParse(tt.b...)
			if got := a.Overlaps(b); got != tt.overlaps {
				t.Errorf("Overlaps = %v, want %v", got, tt.overlaps)
			}
			if got := b.Overlaps(a); got != tt.overlaps {
				t.Errorf("reverse Overlaps = %v, want %v", got, tt.overlaps)
			}
			for _, c := range []struct {
				op   string
				got  Set
				want string
			}{
				{"Intersect", a.Intersect(b), tt.intersect},
				{"reverse Intersect", b.Intersect(a), tt.intersect},
				{"Union", a.Union(b), tt.union},
				{"reverse Union", b.Union(a), tt.union},
				{"Subtract", a.Subtract(b), tt.subtract},
			} {
				if c.got.String() != c.want {
					t.Errorf("%s = %q, want %q", c.op, c.got, c.want)
				}
				checkNormalized(t, c.got)
			}
		})
	}
}

func TestOfFamilyFamiliesSize(t *testing.T) {
	tests := []struct {
		in         []string
		families   []Family
		v4, v6     string
		size4      *big.Int
		size6      *big.Int
		isEmpty    bool
		familyless bool
	}{
		{in: nil, isEmpty: true, size4: big.NewInt(0), size6: big.NewInt(0)},
		{in: []string{"198.18.0.0/24", "198.18.2.0/31"}, families: []Family{IPv4}, v4: "198.18.0.0/24, 198.18.2.0/31", size4: big.NewInt(258), size6: big.NewInt(0)},
		{in: []string{"2001:db8::/64"}, families: []Family{IPv6}, v6: "2001:db8::/64", size4: big.NewInt(0), size6: pow2(64)},
		{
			in:       []string{"::/0", "0.0.0.0/0"},
			families: []Family{IPv4, IPv6}, v4: "0.0.0.0/0", v6: "::/0",
			size4: pow2(32), size6: pow2(128),
		},
		{
			in:       []string{"2001:db8::/64", "198.18.0.0/24", "2001:db8:1::/64"},
			families: []Family{IPv4, IPv6}, v4: "198.18.0.0/24", v6: "2001:db8::/64, 2001:db8:1::/64",
			size4: big.NewInt(256), size6: pow2(65),
		},
	}
	for _, tt := range tests {
		s := MustParse(tt.in...)
		if s.IsEmpty() != tt.isEmpty {
			t.Errorf("%v: IsEmpty = %v", tt.in, s.IsEmpty())
		}
		if got := s.Families(); !slices.Equal(got, tt.families) {
			t.Errorf("%v: Families = %v, want %v", tt.in, got, tt.families)
		}
		if got := s.OfFamily(IPv4).String(); got != tt.v4 {
			t.Errorf("%v: OfFamily(IPv4) = %q, want %q", tt.in, got, tt.v4)
		}
		if got := s.OfFamily(IPv6).String(); got != tt.v6 {
			t.Errorf("%v: OfFamily(IPv6) = %q, want %q", tt.in, got, tt.v6)
		}
		if got := s.Size(IPv4); got.Cmp(tt.size4) != 0 {
			t.Errorf("%v: Size(IPv4) = %v, want %v", tt.in, got, tt.size4)
		}
		if got := s.Size(IPv6); got.Cmp(tt.size6) != 0 {
			t.Errorf("%v: Size(IPv6) = %v, want %v", tt.in, got, tt.size6)
		}
	}
}

// take collects at most n addresses from seq, stopping it early with break.
func take(seq func(func(netip.Addr) bool), n int) []string {
	var out []string
	for a := range seq {
		if len(out) == n {
			break
		}
		out = append(out, a.String())
	}
	return out
}

func TestIteration(t *testing.T) {
	s := MustParse("198.18.0.1-198.18.0.2", "198.18.0.5/32", "255.255.255.254/31", "2001:db8::/126", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")
	all := []string{
		"198.18.0.1", "198.18.0.2", "198.18.0.5", "255.255.255.254", "255.255.255.255",
		"2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	}
	if got := take(s.All(), 100); !slices.Equal(got, all) {
		t.Errorf("All = %v\nwant %v", got, all)
	}
	tests := []struct {
		name  string
		from  netip.Addr
		limit int
		want  []string
	}{
		{"before everything", addr("0.0.0.0"), 100, all},
		{"invalid means all", netip.Addr{}, 100, all},
		{"at a member", addr("198.18.0.2"), 100, all[1:]},
		{"in a gap", addr("198.18.0.3"), 100, all[2:]},
		{"across v4 to v6", addr("255.255.255.255"), 3, all[4:7]},
		{"after the last v4 continues into v6", addr("198.18.0.6"), 2, all[3:5]},
		{"v4 past every v4 member", addr("255.255.255.255"), 100, all[4:]},
		{"v6 start skips v4", addr("::"), 100, all[5:]},
		{"v6 in a gap", addr("2001:db8::4"), 100, all[9:]},
		{"at the very last", addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 100, all[9:]},
		{"break early", addr("198.18.0.1"), 2, all[:2]},
		{"break at zero", addr("198.18.0.1"), 0, nil},
		{"zone ignored", addr("2001:db8::1%eth0"), 100, all[6:]},
	}
	for _, tt := range tests {
		if got := take(s.From(tt.from), tt.limit); !slices.Equal(got, tt.want) {
			t.Errorf("%s: From(%v) = %v, want %v", tt.name, tt.from, got, tt.want)
		}
	}
	if got := take(Set{}.All(), 10); got != nil {
		t.Errorf("empty All = %v", got)
	}
	if got := take(MustParse("198.18.0.0/24").From(addr("2001:db8::")), 10); got != nil {
		t.Errorf("v6 From over a v4-only set = %v", got)
	}
}

// A /64 (or ::/0) has far too many addresses to materialise; if All were
// eager this would never finish.
func TestIterationIsLazy(t *testing.T) {
	s := MustParse("::/0", "2001:db8::/64")
	got := take(s.All(), 3)
	want := []string{"::", "::1", "::2"}
	if !slices.Equal(got, want) {
		t.Errorf("All over ::/0 = %v, want %v", got, want)
	}
	got = take(MustParse("2001:db8::/64").From(addr("2001:db8::ffff:ffff:ffff:fffe")), 5)
	want = []string{"2001:db8::ffff:ffff:ffff:fffe", "2001:db8::ffff:ffff:ffff:ffff"}
	if !slices.Equal(got, want) {
		t.Errorf("From near the end of a /64 = %v, want %v", got, want)
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b []string
		want bool
	}{
		{nil, nil, true},
		{nil, []string{"198.18.0.0/32"}, false},
		{[]string{"198.18.0.0/24"}, []string{"198.18.0.0-198.18.0.255"}, true},
		{[]string{"198.18.0.0/24"}, []string{"198.18.0.128/25", "198.18.0.0/25"}, true},
		{[]string{"198.18.0.0/24"}, []string{"198.18.0.0/25"}, false},
		{[]string{"198.18.0.0/24", "2001:db8::/64"}, []string{"2001:db8::/64", "198.18.0.0/24"}, true},
		{[]string{"198.18.0.0/24", "2001:db8::/64"}, []string{"198.18.0.0/24"}, false},
		{[]string{"2001:db8::/64"}, []string{"2001:db8::/65", "2001:db8:0:0:8000::/65"}, true},
	}
	for _, tt := range tests {
		a, b := MustParse(tt.a...), MustParse(tt.b...)
		if got := a.Equal(b); got != tt.want {
			t.Errorf("Equal(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := b.Equal(a); got != tt.want {
			t.Errorf("Equal(%v, %v) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
	if !(Set{}).Equal(MustParse()) || !(Set{}).Equal(New()) {
		t.Error("zero Set is not equal to an empty parsed Set")
	}
}

func BenchmarkContains(b *testing.B) {
	// 10,000 /30s with gaps between them, so none merge.
	ranges := make([]Range, 0, 10000)
	for i := range 10000 {
		first := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		ranges = append(ranges, Range{First: first, Last: netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 3})})
	}
	s := New(ranges...)
	if len(s.Ranges()) != 10000 {
		b.Fatalf("set has %d ranges, want 10000", len(s.Ranges()))
	}
	probes := make([]netip.Addr, 1024)
	for i := range probes {
		probes[i] = netip.AddrFrom4([4]byte{10, byte(i * 7 >> 8), byte(i * 7), byte(i % 8)})
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Contains(probes[i%len(probes)])
	}
}

func ExampleSet_Subtract() {
	pool := MustParse("198.18.0.0/29", "2001:db8::/126")
	used := MustParse("198.18.0.0/32", "198.18.0.3-198.18.0.4", "2001:db8::1/128")
	fmt.Println(pool.Subtract(used))
	// Output: 198.18.0.1-198.18.0.2, 198.18.0.5-198.18.0.7, 2001:db8::/128, 2001:db8::2/127
}

func TestFormatAddrs(t *testing.T) {
	for _, c := range []struct {
		in   []netip.Addr
		want string
	}{
		{nil, ""},
		{[]netip.Addr{netip.MustParseAddr("198.18.0.1")}, "198.18.0.1"},
		{[]netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")}, "198.18.0.1, 2001:db8::1"},
	} {
		if got := FormatAddrs(c.in); got != c.want {
			t.Errorf("FormatAddrs(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
