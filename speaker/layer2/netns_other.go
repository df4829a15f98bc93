//go:build !linux

package layer2

// netnsHandle is a no-op outside Linux, which has no network namespaces.
type netnsHandle struct{}

func pinNetns() *netnsHandle { return &netnsHandle{} }

func (h *netnsHandle) run(fn func() error) error { return fn() }

func (h *netnsHandle) close() {}
