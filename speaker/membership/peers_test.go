package membership

import (
	"net/netip"
	"testing"
)

func TestParsePeer(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"198.18.0.2:7946", "198.18.0.2:7946", false},
		{"198.18.0.2", "198.18.0.2:1234", false},
		{"[2001:db8::2]:7000", "[2001:db8::2]:7000", false},
		{"2001:db8::2", "[2001:db8::2]:1234", false},
		{"[::ffff:198.18.0.2]:7946", "198.18.0.2:7946", false},
		{"198.18.0.2:0", "", true},
		{"node-b:7946", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePeer(tt.in, 1234)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsePeer(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != netip.MustParseAddrPort(tt.want) {
				t.Fatalf("parsePeer(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}
