package layer2

import (
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Options configures an Announcer. The zero value is usable.
type Options struct {
	// Logger receives errors that have no caller to return to (listener
	// failures, re-opens). Nil discards them.
	Logger *slog.Logger

	// GratuitousCount is how many gratuitous ARPs / unsolicited NAs are sent
	// per IP and interface on takeover: one at once, the rest
	// GratuitousInterval apart. Several, because one can be lost and a client
	// that misses it keeps sending to the old node until its cache entry
	// expires. 0 means 3; negative sends none.
	GratuitousCount int
	// GratuitousInterval is the gap between takeover packets. 0 means 500ms.
	GratuitousInterval time.Duration
	// GratuitousRate bounds the gratuitous packets sent per second, all addresses and
	// interfaces together, so a takeover of thousands of addresses does not flood the
	// segment or the switches' CPUs. 0 means 5000/s (3000 addresses take 0.6 s);
	// negative means no bound.
	GratuitousRate float64

	// RefreshInterval re-sends one gratuitous packet for every owned IP this
	// often, which repairs caches and switch tables that were flushed or
	// missed the takeover, and lets a second (split-brain) announcer notice
	// us. 0 means 60s; negative turns the refresh off.
	RefreshInterval time.Duration

	// OnForeignReply is called when a frame from another MAC claims an IP
	// we own on iface: an ARP packet with that sender IP, or a Neighbor
	// Advertisement for that target. Two nodes answering for one IP means
	// split brain; the caller decides what to do. It runs on the receiving
	// goroutine, once per such frame, so it must return quickly.
	OnForeignReply func(ip netip.Addr, iface string, mac net.HardwareAddr)

	// Metrics, if set, is updated by the Announcer (see NewMetrics).
	Metrics *Metrics
}

const (
	defaultGratuitousCount    = 3
	defaultGratuitousInterval = 500 * time.Millisecond
	defaultGratuitousRate     = 5000
	defaultRefreshInterval    = 60 * time.Second
)

// withDefaults fills in the documented defaults.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.GratuitousCount == 0:
		o.GratuitousCount = defaultGratuitousCount
	case o.GratuitousCount < 0:
		o.GratuitousCount = 0
	}
	if o.GratuitousInterval <= 0 {
		o.GratuitousInterval = defaultGratuitousInterval
	}
	if o.GratuitousRate == 0 {
		o.GratuitousRate = defaultGratuitousRate
	}
	switch {
	case o.RefreshInterval == 0:
		o.RefreshInterval = defaultRefreshInterval
	case o.RefreshInterval < 0:
		o.RefreshInterval = 0
	}
	return o
}
