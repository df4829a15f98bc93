package layer2

import (
	"errors"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// readFrame reads the next frame from a packet socket.
//
// When the link goes down the kernel reports ENETDOWN once on the socket and
// re-attaches the socket by itself when the link comes back up. So that error
// is not a failure: re-opening would only add delay (a socket bound to a
// down link fails the same way), and reading on answers again the moment the
// link is back. Other errors (the interface was deleted: ENODEV) end serve
// and the listener re-opens with backoff.
func readFrame(a *Announcer, iface string, conn *packet.Conn, buf []byte) (int, error) {
	for {
		n, _, err := conn.ReadFrom(buf)
		if errors.Is(err, unix.ENETDOWN) {
			a.log.Info("layer2: link is down; answering resumes when it is up", "interface", iface)
			continue
		}
		return n, err
	}
}

// serveFrames reads frames of up to size bytes and hands each to handle, until a read
// fails (see readFrame). The buffer is reused: handle must not keep the frame.
func serveFrames(a *Announcer, iface string, conn *packet.Conn, size int, handle func([]byte)) error {
	buf := make([]byte, size)
	for {
		n, err := readFrame(a, iface, conn, buf)
		if err != nil {
			return err
		}
		handle(buf[:n])
	}
}
