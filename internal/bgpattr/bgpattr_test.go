package bgpattr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
)

const (
	comms = ironlbv1.AnnotationBGPCommunities
	lp    = ironlbv1.AnnotationBGPLocalPref
)

func TestParse(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	cases := []struct {
		name      string
		in        map[string]string
		wantComms []ironlbv1.Community
		wantLP    *int64
	}{
		{name: "no annotations", in: nil},
		{name: "unrelated annotations", in: map[string]string{ironlbv1.AnnotationAddressPool: "p"}},
		{name: "one standard community", in: map[string]string{comms: "65000:100"}, wantComms: []ironlbv1.Community{"65000:100"}},
		{name: "every kind, with spaces, sorted", in: map[string]string{comms: " no-export , large:64512:1:2,65000:100 "},
			wantComms: []ironlbv1.Community{"65000:100", "large:64512:1:2", "no-export"}},
		{name: "leading zeros are canonicalised and merge with the plain spelling", in: map[string]string{comms: "65000:0100,65000:100,large:01:2:3"},
			wantComms: []ironlbv1.Community{"65000:100", "large:1:2:3"}},
		{name: "duplicates once", in: map[string]string{comms: "no-export,no-export"}, wantComms: []ironlbv1.Community{"no-export"}},
		{name: "empty list adds nothing", in: map[string]string{comms: " "}},
		{name: "exactly the limit", in: map[string]string{comms: communityList(MaxCommunities)}, wantComms: wantList(MaxCommunities)},
		{name: "localPref", in: map[string]string{lp: "400"}, wantLP: n(400)},
		{name: "localPref zero", in: map[string]string{lp: "0"}, wantLP: n(0)},
		{name: "localPref maximum", in: map[string]string{lp: "4294967295"}, wantLP: n(4294967295)},
		{name: "localPref with spaces", in: map[string]string{lp: " 7 "}, wantLP: n(7)},
		{name: "both", in: map[string]string{comms: "65000:1", lp: "10"}, wantComms: []ironlbv1.Community{"65000:1"}, wantLP: n(10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.in)
			if err != nil {
				t.Fatalf("Parse(%v): %v", c.in, err)
			}
			if !slices.Equal(got.Communities, c.wantComms) {
				t.Errorf("communities %v, want %v", got.Communities, c.wantComms)
			}
			if (got.LocalPref == nil) != (c.wantLP == nil) || got.LocalPref != nil && *got.LocalPref != *c.wantLP {
				t.Errorf("localPref %v, want %v", show(got.LocalPref), show(c.wantLP))
			}
		})
	}
}

// Bad input: the error names every bad annotation, its bad value and the reason, and no
// attribute applies, not even one from a valid annotation beside it.
func TestParseRefuses(t *testing.T) {
	type bad struct{ annotation, value, reason string }
	cases := []struct {
		name string
		in   map[string]string
		want []bad
	}{
		{"standard out of range", map[string]string{comms: "65000:100,65536:1"}, []bad{{comms, `"65536:1"`, "is not a community"}}},
		{"unknown name", map[string]string{comms: "no-such-thing"}, []bad{{comms, `"no-such-thing"`, "well-known name"}}},
		{"name in capitals", map[string]string{comms: "NO-EXPORT"}, []bad{{comms, `"NO-EXPORT"`, "is not a community"}}},
		{"large short", map[string]string{comms: "large:1:2"}, []bad{{comms, `"large:1:2"`, "large:A:B:C"}}},
		{"large without its prefix", map[string]string{comms: "1:2:3"}, []bad{{comms, `"1:2:3"`, "is not a community"}}},
		{"large out of range", map[string]string{comms: "large:4294967296:1:1"}, []bad{{comms, `"large:4294967296:1:1"`, "is not a community"}}},
		{"a single number", map[string]string{comms: "65000"}, []bad{{comms, `"65000"`, "AA:NN"}}},
		{"semicolons", map[string]string{comms: "1:1;1:2"}, []bad{{comms, `"1:1;1:2"`, "is not a community"}}},
		{"empty entry", map[string]string{comms: "1:1,,1:2"}, []bad{{comms, `"1:1,,1:2"`, "empty entry"}}},
		{"trailing comma", map[string]string{comms: "1:1,"}, []bad{{comms, `"1:1,"`, "empty entry"}}},
		{"too many", map[string]string{comms: communityList(MaxCommunities + 1)}, []bad{{comms, "", "has 65 communities, at most 64"}}},
		{"localPref negative", map[string]string{lp: "-1"}, []bad{{lp, `"-1"`, "0 to 4294967295"}}},
		{"localPref above 2^32-1", map[string]string{lp: "4294967296"}, []bad{{lp, `"4294967296"`, "0 to 4294967295"}}},
		{"localPref empty", map[string]string{lp: ""}, []bad{{lp, `""`, "is not a localPref"}}},
		{"localPref a word", map[string]string{lp: "high"}, []bad{{lp, `"high"`, "is not a localPref"}}},
		{"localPref with a sign", map[string]string{lp: "+5"}, []bad{{lp, `"+5"`, "is not a localPref"}}},
		{"localPref hexadecimal", map[string]string{lp: "0x10"}, []bad{{lp, `"0x10"`, "is not a localPref"}}},
		{"localPref fraction", map[string]string{lp: "1.5"}, []bad{{lp, `"1.5"`, "is not a localPref"}}},
		{"a good localPref beside bad communities", map[string]string{comms: "x", lp: "400"}, []bad{{comms, `"x"`, "is not a community"}}},
		{"good communities beside a bad localPref", map[string]string{comms: "1:1", lp: "x"}, []bad{{lp, `"x"`, "is not a localPref"}}},
		{"both bad, both named", map[string]string{comms: "x", lp: "y"}, []bad{{comms, `"x"`, "is not a community"}, {lp, `"y"`, "is not a localPref"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.in)
			if err == nil {
				t.Fatalf("Parse(%v) = %+v, want an error", c.in, got)
			}
			if !got.IsZero() {
				t.Errorf("Parse(%v) returned attributes with its error: %+v", c.in, got)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) != len(c.want) {
				t.Fatalf("error %v: want %d annotation errors", err, len(c.want))
			}
			for i, w := range c.want {
				if es[i].Annotation != w.annotation || !strings.Contains(es[i].Reason, w.reason) {
					t.Errorf("error %d = %+v, want annotation %s and a reason with %q", i, es[i], w.annotation, w.reason)
				}
				for _, s := range []string{w.annotation, w.value, w.reason} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("message %q does not say %q", err, s)
					}
				}
			}
		})
	}
}

func TestAnnotated(t *testing.T) {
	for _, c := range []struct {
		in   map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{ironlbv1.AnnotationAllowSharedIP: "k"}, false},
		{map[string]string{comms: ""}, true},
		{map[string]string{lp: "bad"}, true},
	} {
		if got := Annotated(c.in); got != c.want {
			t.Errorf("Annotated(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func communityList(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("65000:%d", i)
	}
	return strings.Join(parts, ",")
}

func wantList(n int) []ironlbv1.Community {
	var out []ironlbv1.Community
	for i := range n {
		out = append(out, ironlbv1.Community(fmt.Sprintf("65000:%d", i)))
	}
	slices.Sort(out)
	return out
}

func show(p *int64) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}
