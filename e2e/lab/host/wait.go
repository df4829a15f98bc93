package host

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Poll calls check every interval until it reports done, it returns a permanent error, ctx
// ends or timeout passes. The timeout error says what was awaited and the last reason it
// was not done yet, which is usually the whole diagnosis.
func Poll(ctx context.Context, timeout, interval time.Duration, what string, check func(context.Context) (done bool, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var last error
	for {
		done, err := check(ctx)
		if done {
			return nil
		}
		if err != nil {
			var perm PermanentError
			if errors.As(err, &perm) {
				return fmt.Errorf("%s: %w", what, perm.err)
			}
			last = err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s: %w", time.Since(start).Round(time.Millisecond), what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", time.Since(start).Round(time.Millisecond), what)
		case <-t.C:
		}
	}
}

// PermanentError stops poll at once: waiting longer cannot help (the process died).
type PermanentError struct{ err error }

func (p PermanentError) Error() string { return p.err.Error() }

// Permanent wraps err so that poll gives up immediately.
func Permanent(err error) error { return PermanentError{err} }
