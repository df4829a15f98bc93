package layer2

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// netnsHandle pins the network namespace an Announcer was created in.
//
// A network namespace belongs to an OS thread, not to a process, while sockets
// keep the namespace they were created in. The Announcer opens sockets long
// after New returns (lazily, and again after errors) from goroutines that may
// run on any thread. Without this pin, an Announcer created on a thread that
// had switched namespace (the tests do exactly that) would open some sockets
// in the wrong namespace. In the speaker every thread is in the host namespace,
// so run only compares two inode numbers and never switches.
type netnsHandle struct {
	f *os.File // nil: namespace could not be pinned; run does not switch.
}

// pinNetns records the network namespace of the calling thread.
func pinNetns() *netnsHandle {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err := os.Open(threadNetnsPath())
	if err != nil {
		return &netnsHandle{}
	}
	return &netnsHandle{f: f}
}

func threadNetnsPath() string {
	return fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
}

// run calls fn on a thread that is in the pinned namespace. Switching needs
// CAP_SYS_ADMIN, which is only asked for when the current thread is elsewhere.
func (h *netnsHandle) run(fn func() error) error {
	if h == nil || h.f == nil {
		return fn()
	}
	runtime.LockOSThread()
	cur, err := os.Open(threadNetnsPath())
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open current network namespace: %w", err)
	}
	defer func() { _ = cur.Close() }()
	if sameFile(cur, h.f) {
		defer runtime.UnlockOSThread()
		return fn()
	}
	if err := unix.Setns(int(h.f.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace: %w", err)
	}
	ferr := fn()
	if err := unix.Setns(int(cur.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so the runtime discards it when this
		// goroutine exits instead of reusing a thread in the wrong namespace.
		return fmt.Errorf("leave network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

func (h *netnsHandle) close() {
	if h != nil && h.f != nil {
		_ = h.f.Close()
	}
}

func sameFile(a, b *os.File) bool {
	var sa, sb unix.Stat_t
	if unix.Fstat(int(a.Fd()), &sa) != nil || unix.Fstat(int(b.Fd()), &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
