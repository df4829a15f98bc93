// Command lab starts, shows and removes the ironlb lab (package e2e/lab) for people:
//
//	lab up [--nodes N] [--demo]        start a cluster lab and leave it running; --demo
//	                                   installs ironlb with Helm and deploys an app
//	lab up --processes [--with-controller]  the older lab whose pods and ironlb are processes
//	lab status                         show the running lab and how to use it
//	lab down                           remove the lab
//
// It needs root. `make demo` and `make demo-down` run it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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
		demo := fs.Bool("demo", false, "install ironlb with Helm, apply pools and show a LoadBalancer Service of a Deployment")
		processes := fs.Bool("processes", false, "the process lab: no kubelet or containerd; pods and ironlb run as processes")
		withController := fs.Bool("with-controller", false, "with --processes: start ironlb's controller and speakers, apply a pool and show a LoadBalancer Service")
		_ = fs.Parse(os.Args[2:])
		err = up(ctx, *stateDir, *nodes, !*processes, *demo, *withController)
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
func up(ctx context.Context, stateDir string, nodes int, cluster, demo, withController bool) error {
	start := time.Now()
	l, err := lab.Start(ctx, lab.Options{
		Nodes:    nodes,
		StateDir: stateDir,
		Cluster:  cluster,
		Logf:     func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	run := func(context.Context, io.Writer) error { return nil }
	switch {
	case cluster && demo:
		run = l.RunClusterDemo
	case !cluster && withController:
		run = l.RunDemo
	}
	if err := run(ctx, os.Stdout); err != nil {
		l.Detach()
		return fmt.Errorf("%w\n(the lab is still up: `lab status`, `lab down`)", err)
	}
	if demo || withController {
		fmt.Fprintf(os.Stderr, "lab: demo ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	fmt.Print(l.Usage())
	l.Detach()
	return nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lab up [--nodes N] [--demo] [--processes [--with-controller]] | lab status | lab down   [--state-dir DIR]")
	os.Exit(2)
}
