// Command lab starts, shows and removes the ironlb lab (package e2e/lab) for people:
//
//	lab up [--nodes N] [--with-controller]   start a lab and leave it running
//	lab status                               show the running lab and how to use it
//	lab down                                 remove the lab
//
// It needs root. `make demo` and `make demo-down` run it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/e2e/lab"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("lab "+os.Args[1], flag.ExitOnError)
	stateDir := fs.String("state-dir", lab.DefaultStateDir, "where the lab keeps its lock, state and files")
	var err error
	switch os.Args[1] {
	case "up":
		nodes := fs.Int("nodes", 3, "number of nodes")
		withController := fs.Bool("with-controller", false, "also start ironlb's controller, apply an address pool and show a LoadBalancer Service")
		_ = fs.Parse(os.Args[2:])
		err = up(ctx, *stateDir, *nodes, *withController)
	case "down":
		_ = fs.Parse(os.Args[2:])
		downCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err = lab.Down(downCtx, *stateDir)
		if err == nil {
			fmt.Println("lab: removed")
		}
	case "status":
		_ = fs.Parse(os.Args[2:])
		var out string
		if out, err = lab.Status(*stateDir); err == nil {
			fmt.Print(out)
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// up starts a lab, optionally runs the demo, prints how to use it and leaves it running.
func up(ctx context.Context, stateDir string, nodes int, withController bool) error {
	l, err := lab.Start(ctx, lab.Options{
		Nodes:    nodes,
		StateDir: stateDir,
		Logf:     func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	if withController {
		if err := l.RunDemo(ctx, os.Stdout); err != nil {
			l.Detach()
			return fmt.Errorf("%w\n(the lab is still up: `lab status`, `lab down`)", err)
		}
	}
	fmt.Print(l.Usage())
	l.Detach()
	return nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lab up [--nodes N] [--with-controller] | lab status | lab down   [--state-dir DIR]")
	os.Exit(2)
}
