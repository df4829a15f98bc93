// Command pause is the lab nodes' pod sandbox image (containerd's sandbox_image): the first
// process of every pod's namespaces. It holds them open, reaps the children it inherits as
// PID 1, and exits on SIGTERM or SIGINT, which is all the kubelet asks of a pause container.
// It is built here because the lab reaches no container registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
