// Command podserver is the lab's pod: an HTTP server that answers every request with its
// name, so a client sees which pod (and through it which node) served it. The client's
// address, as the pod saw it, is in the X-Client-Addr header, which tells whether the
// path preserved the source address (externalTrafficPolicy: Local) or masqueraded it.
//
// As the lab's container image (localhost/ironlb/lab-podserver) it runs with no flags:
// its name is then the host name, which in a pod is the pod's name, and it serves on ports
// 80 and 8080, so `kubectl expose --port=80` (whose target port defaults to 80) reaches it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	name := flag.String("name", "", "the pod's name, returned as the body of every answer (default: the host name)")
	listen := flag.String("listen", ":80,:8080", "comma-separated addresses to serve on (\":8080\" is every IPv4 and IPv6 address)")
	// Kubernetes removes a terminating pod from the Services' endpoints while it already
	// has its SIGTERM, and kube-proxy on every node follows a moment later: an app that
	// stops accepting at once refuses the connections sent to it meanwhile. Real apps wait
	// (a preStop sleep, or a delay like this one) so a drain loses nothing.
	shutdownDelay := flag.Duration("shutdown-delay", 0, "how long to keep serving after SIGTERM before shutting down")
	flag.Parse()
	if *name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			log.Fatalf("podserver: no --name and no host name (%v)", err)
		}
		*name = h
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Client-Addr", r.RemoteAddr)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = fmt.Fprintln(w, *name)
		}),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		time.Sleep(*shutdownDelay)
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	// Every address is bound before serving, so a port that cannot be had fails the pod at
	// once instead of leaving it half up.
	var lns []net.Listener
	for _, addr := range strings.Split(*listen, ",") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatalf("podserver: %v", err)
		}
		lns = append(lns, ln)
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("podserver: %v", err)
	}
}
