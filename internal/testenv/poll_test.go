package testenv_test

import (
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/testenv"
)

func TestPoll(t *testing.T) {
	n := 0
	if !testenv.Poll(time.Second, time.Millisecond, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("Poll stopped after %d calls, want true after 3", n)
	}
	n = 0
	if testenv.Poll(10*time.Millisecond, time.Millisecond, func() bool { n++; return false }) || n < 2 {
		t.Errorf("Poll of a condition that never holds: %d calls, want false after several", n)
	}
}
