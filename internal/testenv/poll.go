package testenv

import (
	"testing"
	"time"
)

// Poll calls cond every interval until it holds or timeout passes, and reports whether it
// held. cond runs at least once, and once more after the deadline.
func Poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// Eventually calls check every interval until it returns nil, and fails t with what and
// check's last error once timeout has passed.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, check func() error) {
	t.Helper()
	var err error
	if !Poll(timeout, interval, func() bool { err = check(); return err == nil }) {
		t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
	}
}
