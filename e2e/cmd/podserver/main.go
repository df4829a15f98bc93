// Command podserver is the lab's pod: an HTTP server that answers every request with its
// name, so a client sees which pod (and through it which node) served it. The client's
// address, as the pod saw it, is in the X-Client-Addr header, which tells whether the
// path preserved the source address (externalTrafficPolicy: Local) or masqueraded it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	name := flag.String("name", "", "the pod's name, returned as the body of every answer")
	listen := flag.String("listen", ":8080", "address to serve on (\":8080\" is every IPv4 and IPv6 address)")
	flag.Parse()
	if *name == "" {
		log.Fatal("podserver: --name is required")
	}
	srv := &http.Server{
		Addr:              *listen,
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
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatalf("podserver: %v", err)
	}
}
