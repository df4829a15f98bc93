package membership

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

func TestDeriveKey(t *testing.T) {
	secret16 := []byte("0123456789abcdef")
	tests := []struct {
		name    string
		secret  []byte
		wantErr string // substring; "" means success
	}{
		{"nil", nil, "is 0 bytes; need at least 16 random bytes"},
		{"empty", []byte{}, "is 0 bytes; need at least 16 random bytes"},
		{"15 bytes", secret16[:15], "is 15 bytes; need at least 16 random bytes"},
		{"16 bytes", secret16, ""},
		{"long", bytes.Repeat([]byte("x"), 300), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := DeriveKey(tt.secret)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DeriveKey error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "membership: secret") {
					t.Errorf("error %q should start with %q", err, "membership: secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("DeriveKey: %v", err)
			}
			if len(key) != 32 {
				t.Fatalf("key is %d bytes, want 32", len(key))
			}
			again, _ := DeriveKey(tt.secret)
			if !bytes.Equal(key, again) {
				t.Error("DeriveKey is not deterministic")
			}
			if bytes.Contains(key, tt.secret[:16]) {
				t.Error("key contains the secret verbatim")
			}
		})
	}
}

func TestDeriveKeyDistinct(t *testing.T) {
	secrets := [][]byte{
		[]byte("0123456789abcdef"),
		[]byte("0123456789abcdeg"),
		[]byte("0123456789abcdef0"),
		bytes.Repeat([]byte{0}, 32),
	}
	seen := map[string]int{}
	for i, s := range secrets {
		k, err := DeriveKey(s)
		if err != nil {
			t.Fatal(err)
		}
		if j, dup := seen[string(k)]; dup {
			t.Errorf("secrets %d and %d derive the same key", j, i)
		}
		seen[string(k)] = i
	}
}

// TestDeriveKeyIsHKDF checks the key against HKDF-SHA256 (RFC 5869) written out by
// hand, so a change of salt, info string or hash cannot slip in unnoticed: every
// speaker of a cluster must derive the same key, across versions.
func TestDeriveKeyIsHKDF(t *testing.T) {
	secret := []byte("a kubernetes secret of some length")
	mac := func(key, data []byte) []byte {
		h := hmac.New(sha256.New, key)
		h.Write(data)
		return h.Sum(nil)
	}
	prk := mac(make([]byte, sha256.Size), secret)               // extract, empty salt
	want := mac(prk, append([]byte("ironlb memberlist v1"), 1)) // expand, first block
	got, err := DeriveKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("DeriveKey = %x, want HKDF-SHA256 %x", got, want)
	}
	if KeyInfo != "ironlb memberlist v1" {
		t.Fatalf("KeyInfo changed to %q: every running cluster would split", KeyInfo)
	}
}

// TestKeyRotationWithoutRestart rotates the gossip key of a running cluster in the three
// steps the README gives (accept the new key everywhere, send with it everywhere, drop
// the old one) and checks after each that nobody dropped out; at the end a member with
// only the new key joins, and one with only the old key cannot.
func TestKeyRotationWithoutRestart(t *testing.T) {
	oldSecret, newSecret := testSecret, []byte("the next memberlist secret, 0123456789abcdef")
	c := converged(t, "a", "b", "c")
	all := []string{"a", "b", "c"}
	steps := []struct {
		name     string
		primary  []byte
		accepted [][]byte
	}{
		{"accept the new key", oldSecret, [][]byte{newSecret}},
		{"send with the new key", newSecret, [][]byte{oldSecret}},
		{"drop the old key", newSecret, nil},
	}
	for _, s := range steps {
		// One member at a time, as kubelet updates mounted Secrets node by node.
		for _, n := range all {
			if err := c.members[n].SetSecrets(s.primary, s.accepted); err != nil {
				t.Fatalf("%s: %s: %v", s.name, n, err)
			}
			time.Sleep(300 * time.Millisecond) // several probe rounds with mixed keys
			for _, m := range all {
				if got := c.members[m].Alive(); len(got) != 3 {
					t.Fatalf("%s, after %s: %s sees %v", s.name, n, m, got)
				}
			}
		}
	}
	c.edit = func(name string, cfg *Config) {
		switch name {
		case "d":
			cfg.Secret = newSecret
		case "e":
			cfg.Secret = oldSecret
		}
	}
	c.start("d")
	c.waitAll([]string{"a", "b", "c", "d"}, 5*time.Second)
	c.start("e")
	time.Sleep(time.Second)
	if got := c.members["e"].Alive(); len(got) != 1 {
		t.Errorf("a member with only the old key joined: it sees %v", got)
	}
}
