package election

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"testing"
)

func TestOwnerBasics(t *testing.T) {
	cases := []struct {
		name  string
		nodes []string
		want  func(string) bool
	}{
		{"no candidates", nil, func(o string) bool { return o == "" }},
		{"one candidate", []string{"n1"}, func(o string) bool { return o == "n1" }},
		{"owner is a candidate", []string{"n1", "n2", "n3"}, func(o string) bool { return slices.Contains([]string{"n1", "n2", "n3"}, o) }},
	}
	for _, c := range cases {
		if got := Owner("198.18.0.1", c.nodes); !c.want(got) {
			t.Errorf("%s: Owner = %q", c.name, got)
		}
	}
}

// Every speaker must reach the same verdict whatever order it lists the nodes in.
func TestOwnerIgnoresOrder(t *testing.T) {
	nodes := []string{"a", "b", "c", "d", "e"}
	for i := range 200 {
		key := fmt.Sprintf("198.18.1.%d", i)
		want := Owner(key, nodes)
		rev := slices.Clone(nodes)
		slices.Reverse(rev)
		if got := Owner(key, rev); got != want {
			t.Fatalf("%s: owner %q with one order, %q with another", key, want, got)
		}
	}
}

func TestOwnersSpreadEvenly(t *testing.T) {
	nodes := []string{"node-1", "node-2", "node-3", "node-4"}
	count := map[string]int{}
	const n = 4000
	for i := range n {
		count[Owner(fmt.Sprintf("198.18.%d.%d", i/256, i%256), nodes)]++
	}
	for _, node := range nodes {
		share := float64(count[node]) / n
		if math.Abs(share-0.25) > 0.05 {
			t.Errorf("%s owns %.1f%% of addresses, want about 25%% (%v)", node, share*100, count)
		}
	}
}

// When a node joins, only the addresses it wins move, and they move to it; when the owner
// leaves, only its addresses move.
func TestMinimalMovement(t *testing.T) {
	before := []string{"n1", "n2", "n3"}
	after := []string{"n1", "n2", "n3", "n4"}
	moved := 0
	for i := range 3000 {
		key := fmt.Sprintf("2001:db8::%x", i)
		a, b := Owner(key, before), Owner(key, after)
		if a != b {
			moved++
			if b != "n4" {
				t.Fatalf("%s moved from %s to %s, not to the new node", key, a, b)
			}
		}
		without := []string{"n2", "n3"}
		if c := Owner(key, without); a != "n1" && c != a {
			t.Fatalf("%s moved from %s to %s although its owner stayed", key, a, c)
		}
	}
	if moved < 500 || moved > 1000 {
		t.Errorf("%d of 3000 addresses moved to the fourth node, want about 750", moved)
	}
}

// TestScoreIsFNV1a pins score to hash/fnv's FNV-1a of key, a 0 byte and node, so the
// allocation-free version elects exactly what speakers of earlier releases elect.
func TestScoreIsFNV1a(t *testing.T) {
	for _, c := range [][2]string{{"198.18.0.1", "node-1"}, {"", ""}, {"2001:db8::1", "a-much-longer-node-name.example"}} {
		h := fnv.New64a()
		_, _ = h.Write([]byte(c[0]))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(c[1]))
		if got, want := score(c[0], c[1]), mix(h.Sum64()); got != want {
			t.Errorf("score(%q, %q) = %x, want %x", c[0], c[1], got, want)
		}
	}
}
