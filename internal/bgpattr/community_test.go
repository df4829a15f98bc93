package bgpattr

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseCommunity(t *testing.T) {
	std := func(v uint32) *uint32 { return &v }
	large := func(a, b, c uint32) *[3]uint32 { return &[3]uint32{a, b, c} }
	cases := []struct {
		name      string
		in        string
		wantStd   *uint32
		wantLarge *[3]uint32
		wantErr   bool
	}{
		// AA:NN
		{name: "standard", in: "65000:100", wantStd: std(65000<<16 | 100)},
		{name: "standard zero", in: "0:0", wantStd: std(0)},
		{name: "standard maximum", in: "65535:65535", wantStd: std(0xFFFFFFFF)},
		{name: "standard high half only", in: "1:0", wantStd: std(0x00010000)},
		{name: "standard low half only", in: "0:1", wantStd: std(1)},
		{name: "standard with leading zeros (the CRD allows up to 5 digits)", in: "00001:00002", wantStd: std(1<<16 | 2)},

		// large:A:B:C
		{name: "large", in: "large:65000:1:2", wantLarge: large(65000, 1, 2)},
		{name: "large zero", in: "large:0:0:0", wantLarge: large(0, 0, 0)},
		{name: "large maximum", in: "large:4294967295:4294967295:4294967295", wantLarge: large(4294967295, 4294967295, 4294967295)},
		{name: "large 4-byte ASN", in: "large:4200000000:7:4294967295", wantLarge: large(4200000000, 7, 4294967295)},

		// Well-known names and their values (RFC 1997, 3765, 7999, 8326, 7611, 9494).
		{name: "no-export (RFC 1997)", in: "no-export", wantStd: std(0xFFFFFF01)},
		{name: "no-advertise (RFC 1997)", in: "no-advertise", wantStd: std(0xFFFFFF02)},
		{name: "no-export-subconfed (RFC 1997)", in: "no-export-subconfed", wantStd: std(0xFFFFFF03)},
		{name: "no-peer (RFC 3765)", in: "no-peer", wantStd: std(0xFFFFFF04)},
		{name: "blackhole (RFC 7999)", in: "blackhole", wantStd: std(0xFFFF029A)},
		{name: "graceful-shutdown (RFC 8326)", in: "graceful-shutdown", wantStd: std(0xFFFF0000)},
		{name: "accept-own (RFC 7611)", in: "accept-own", wantStd: std(0xFFFF0001)},
		{name: "llgr-stale (RFC 9494)", in: "llgr-stale", wantStd: std(0xFFFF0006)},
		{name: "no-llgr (RFC 9494)", in: "no-llgr", wantStd: std(0xFFFF0007)},

		// Bad input: each must fail and name the community.
		{name: "high half above 65535", in: "65536:1", wantErr: true},
		{name: "low half above 65535", in: "1:65536", wantErr: true},
		{name: "large with two numbers", in: "large:1:2", wantErr: true},
		{name: "large with four numbers", in: "large:1:2:3:4", wantErr: true},
		{name: "large part above 2^32-1", in: "large:1:2:4294967296", wantErr: true},
		{name: "large first part above 2^32-1", in: "large:4294967296:2:3", wantErr: true},
		{name: "large with an empty part", in: "large:1::3", wantErr: true},
		{name: "large with a negative part", in: "large:1:-2:3", wantErr: true},
		{name: "large with nothing after the prefix", in: "large:", wantErr: true},
		{name: "large prefix in capitals", in: "LARGE:1:2:3", wantErr: true},
		{name: "unknown word", in: "foo", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "three numbers without large:", in: "1:2:3", wantErr: true},
		{name: "negative high half", in: "-1:2", wantErr: true},
		{name: "negative low half", in: "1:-2", wantErr: true},
		{name: "plus sign", in: "+1:2", wantErr: true},
		{name: "leading space", in: " 1:2", wantErr: true},
		{name: "trailing space", in: "1:2 ", wantErr: true},
		{name: "well-known name with a trailing space", in: "no-export ", wantErr: true},
		{name: "well-known name in capitals", in: "NO-EXPORT", wantErr: true},
		{name: "missing low half", in: "1:", wantErr: true},
		{name: "missing high half", in: ":1", wantErr: true},
		{name: "lone colon", in: ":", wantErr: true},
		{name: "hexadecimal", in: "0x10:1", wantErr: true},
		{name: "a single number", in: "65000", wantErr: true},
		{name: "digit separators", in: "6_5:1", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gotStd, gotLarge, err := ParseCommunity(c.in)
			if c.wantErr {
				if err == nil {
					t.Fatalf("ParseCommunity(%q) = (%v, %v, nil), want an error", c.in, deref(gotStd), derefL(gotLarge))
				}
				msg := err.Error()
				if !strings.Contains(msg, strconv.Quote(c.in)) && (c.in == "" || !strings.Contains(msg, c.in)) {
					t.Errorf("ParseCommunity(%q) error %q does not name the community", c.in, msg)
				}
				if gotStd != nil || gotLarge != nil {
					t.Errorf("ParseCommunity(%q) returned a value with its error: %v, %v", c.in, deref(gotStd), derefL(gotLarge))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommunity(%q): %v", c.in, err)
			}
			if (gotStd == nil) == (gotLarge == nil) {
				t.Fatalf("ParseCommunity(%q) = (%v, %v): exactly one result must be set", c.in, deref(gotStd), derefL(gotLarge))
			}
			if c.wantStd != nil && (gotStd == nil || *gotStd != *c.wantStd) {
				t.Errorf("ParseCommunity(%q) standard = %v, want %#x", c.in, deref(gotStd), *c.wantStd)
			}
			if c.wantLarge != nil && (gotLarge == nil || *gotLarge != *c.wantLarge) {
				t.Errorf("ParseCommunity(%q) large = %v, want %v", c.in, derefL(gotLarge), *c.wantLarge)
			}
		})
	}
}

// Every name the API's validation accepts must parse (the CRD's list and the parser's must
// not drift apart).
func TestParseCommunityAcceptsEveryNameTheAPIAccepts(t *testing.T) {
	for _, name := range []string{"no-export", "no-advertise", "no-export-subconfed", "no-peer", "blackhole",
		"graceful-shutdown", "accept-own", "llgr-stale", "no-llgr"} {
		if s, _, err := ParseCommunity(name); err != nil || s == nil {
			t.Errorf("ParseCommunity(%q) = %v, %v; want a standard community", name, deref(s), err)
		}
	}
}

func deref(p *uint32) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func derefL(p *[3]uint32) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}
