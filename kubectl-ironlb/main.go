// Command kubectl-ironlb is a kubectl plugin for ironlb: put it on PATH and run
// `kubectl ironlb status`, `kubectl ironlb pools`, `kubectl ironlb explain svc NAME` or
// `kubectl ironlb migrate metallb`. main only parses flags and wires the packages.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/kubectl-ironlb/kube"
	"github.com/ironlb/ironlb/kubectl-ironlb/migrate"
	"github.com/ironlb/ironlb/kubectl-ironlb/report"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// exitError carries an exit code other than 1 out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run executes the plugin with the given arguments and returns its exit code. Errors are
// printed on one line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var conn kube.Options
	connect := func() (*kube.Clients, error) { return kube.Connect(conn) }
	root := &cobra.Command{
		Use:           "kubectl-ironlb",
		Short:         "Day-2 tools for ironlb: status, pools, explain a Service, migrate from MetalLB",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&conn.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
	pf.StringVar(&conn.Context, "context", "", "the kubeconfig context to use")
	pf.StringVarP(&conn.Namespace, "namespace", "n", "", "the namespace of the Service (default: the context's)")
	pf.DurationVar(&conn.Timeout, "request-timeout", 15*time.Second, "how long to wait for each API request")
	root.AddCommand(statusCmd(ctx, connect), poolsCmd(ctx, connect), explainCmd(ctx, connect), migrateCmd(ctx, connect))
	err := root.Execute()
	var exit exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "error: "+strings.Join(strings.Fields(err.Error()), " ")) // stderr is the last resort
		return 1
	}
	return 0
}

type connectFunc func() (*kube.Clients, error)

func snapshot(ctx context.Context, connect connectFunc) (*kube.Clients, *report.Snapshot, error) {
	c, err := connect()
	if err != nil {
		return nil, nil, err
	}
	s, err := report.Read(ctx, c.Client)
	if err != nil {
		return nil, nil, kube.Plain(err, c.Host)
	}
	return c, s, nil
}

// printAs writes v as YAML or JSON for -o, or calls text.
func printAs(w io.Writer, format string, v any, text func() error) error {
	switch format {
	case "":
		return text()
	case "json":
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(data))
		return err
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return fmt.Errorf("unknown output format %q: use -o yaml or -o json", format)
}

func statusCmd(ctx context.Context, connect connectFunc) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Pools, advertisements, speakers and BGP sessions on one screen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, s, err := snapshot(ctx, connect)
			if err != nil {
				return err
			}
			st := report.BuildStatus(s)
			return printAs(cmd.OutOrStdout(), output, st, func() error { return report.PrintStatus(cmd.OutOrStdout(), st, time.Now()) })
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "yaml or json")
	return cmd
}

func poolsCmd(ctx context.Context, connect connectFunc) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "pools",
		Short: "IPAddressPools: used and free addresses per family, and the Services holding them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, s, err := snapshot(ctx, connect)
			if err != nil {
				return err
			}
			pools := report.Pools(s)
			return printAs(cmd.OutOrStdout(), output, pools, func() error { return report.PrintPools(cmd.OutOrStdout(), pools) })
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "yaml or json")
	return cmd
}

func explainCmd(ctx context.Context, connect connectFunc) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "explain svc NAME",
		Short: "What happens to a Service: addresses, why pending, who announces it, traffic policy, events",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := serviceName(args)
			if err != nil {
				return err
			}
			c, s, err := snapshot(ctx, connect)
			if err != nil {
				return err
			}
			d, err := report.ReadService(ctx, c.Client, c.Namespace, name)
			if err != nil {
				if kube.IsNotFound(err) {
					return errServiceNotFound(c.Namespace, name)
				}
				return kube.Plain(err, c.Host)
			}
			e := report.BuildExplanation(s, d, time.Now())
			return printAs(cmd.OutOrStdout(), output, e, func() error { return report.PrintExplanation(cmd.OutOrStdout(), e) })
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "yaml or json")
	return cmd
}

// serviceName accepts `svc NAME`, `service NAME` and `svc/NAME`.
func serviceName(args []string) (string, error) {
	kinds := map[string]bool{"svc": true, "service": true, "services": true}
	if len(args) == 1 {
		if kind, name, ok := strings.Cut(args[0], "/"); ok && kinds[kind] && name != "" {
			return name, nil
		}
		return "", fmt.Errorf("usage: kubectl ironlb explain svc NAME")
	}
	if !kinds[args[0]] {
		return "", fmt.Errorf("explain knows Services only: kubectl ironlb explain svc NAME")
	}
	return args[1], nil
}

func migrateCmd(ctx context.Context, connect connectFunc) *cobra.Command {
	var o migrate.Options
	cmd := &cobra.Command{
		Use:   "migrate metallb",
		Short: "Convert MetalLB's configuration (from the cluster or -f files) into ironlb objects",
		Long: "Reads MetalLB's IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer, BFDProfile and Community objects\n" +
			"and the legacy ConfigMap, writes the ironlb objects to stdout (or applies them with --apply) and reports\n" +
			"on stderr, per object and field, what has no equivalent. Exits 2 on loss unless --allow-loss.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "metallb" {
				return fmt.Errorf("migrate knows MetalLB only: kubectl ironlb migrate metallb")
			}
			code, err := migrate.Run(ctx, o, connect, migrate.IO{In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Files, "filename", "f", nil, "MetalLB YAML to convert (repeatable; - for stdin); default: read the cluster")
	f.BoolVar(&o.Apply, "apply", false, "create or update the ironlb objects in the cluster instead of printing them")
	f.BoolVar(&o.AllowLoss, "allow-loss", false, "write the objects even when some MetalLB settings have no equivalent")
	f.StringVar(&o.LegacyNamespace, "metallb-namespace", "metallb-system", "namespace of MetalLB's legacy ConfigMap \"config\"")
	return cmd
}

// errServiceNotFound names the Service and how to list the namespace's Services. (The
// message starts with the kind, as kubectl's own do.)
func errServiceNotFound(ns, name string) error {
	return errors.New("Service " + ns + "/" + name + " not found (kubectl get svc -n " + ns + ")")
}
