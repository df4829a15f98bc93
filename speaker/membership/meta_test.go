package membership

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMetaReachesEveryMember checks that what one speaker publishes (its interfaces) is
// seen by the others, that an update replaces it, and that oversized metadata is refused.
func TestMetaReachesEveryMember(t *testing.T) {
	c := converged(t, "a", "b", "c")
	for i, meta := range []string{"if:eth0", "if:eth0,eth1"} {
		if err := c.members["a"].SetMeta([]byte(meta)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			missing := ""
			for _, n := range []string{"a", "b", "c"} {
				if got := c.members[n].AliveMeta()["a"]; !bytes.Equal(got, []byte(meta)) {
					missing += fmt.Sprintf(" %s sees %q;", n, got)
				}
			}
			if missing == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("update %d (%q) not seen everywhere:%s", i, meta, missing)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	err := c.members["a"].SetMeta([]byte(strings.Repeat("x", MaxMetaLen+1)))
	if err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("oversized metadata: err = %v, want a refusal", err)
	}
}
