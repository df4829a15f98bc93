package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/kubectl-ironlb/kube"
	"github.com/ironlb/ironlb/kubectl-ironlb/textout"
)

// ExitLoss is the exit code when something has no equivalent and --allow-loss is not set.
const ExitLoss = 2

// Options are the flags of `kubectl ironlb migrate metallb`.
type Options struct {
	Files           []string // "-" is standard input
	Apply           bool
	AllowLoss       bool
	LegacyNamespace string
}

// IO is where the command reads and writes: the objects go to Out, the report to Err, so
// `> ironlb.yaml` keeps only the objects.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// Run reads MetalLB's configuration from the files or the cluster, converts it, writes or
// applies the ironlb objects and prints the report. It returns the exit code.
func Run(ctx context.Context, o Options, connect func() (*kube.Clients, error), std IO) (int, error) {
	var objs []*unstructured.Unstructured
	var services []corev1.Service
	var clients *kube.Clients
	var err error
	if len(o.Files) == 0 || o.Apply {
		if clients, err = connect(); err != nil {
			return 1, err
		}
	}
	if len(o.Files) > 0 {
		objs, services, err = readFiles(o.Files, std.In)
	} else {
		objs, services, err = readCluster(ctx, clients, o.LegacyNamespace)
	}
	if err != nil {
		return 1, err
	}
	if clients != nil && len(o.Files) > 0 {
		var list corev1.ServiceList
		if err := clients.Client.List(ctx, &list); err == nil {
			services = append(services, list.Items...)
		}
	}
	res := Convert(objs)
	w := textout.New(std.Err)
	w.Check(res.Report.Print(w))
	printServices(w, CheckServices(services, res.Pools), services != nil)
	lost := res.Report.Losses()
	w.Printf("Summary: %d MetalLB object(s) read, %d ironlb object(s) written, %d setting(s) lost.\n", len(objs), len(res.Objects), lost)
	if lost > 0 && !o.AllowLoss {
		w.Println("Not converted: some settings have no ironlb equivalent (LOST above); rerun with --allow-loss to accept that.")
		return ExitLoss, w.Err()
	}
	if w.Err() != nil {
		return 1, w.Err()
	}
	if o.Apply {
		return 0, apply(ctx, clients, res.Objects, std.Out)
	}
	data, err := WriteYAML(res.Objects)
	if err != nil {
		return 1, err
	}
	_, err = std.Out.Write(data)
	return 0, err
}

func readFiles(files []string, stdin io.Reader) ([]*unstructured.Unstructured, []corev1.Service, error) {
	var all []*unstructured.Unstructured
	for _, name := range files {
		r := stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return nil, nil, err
			}
			defer func() { _ = f.Close() }()
			r = f
		}
		objs, err := ParseYAML(r, name)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, objs...)
	}
	return splitServices(all)
}

// splitServices separates the Services, which are checked, not converted.
func splitServices(all []*unstructured.Unstructured) ([]*unstructured.Unstructured, []corev1.Service, error) {
	var keep []*unstructured.Unstructured
	var services []corev1.Service
	for _, u := range all {
		if u.GetKind() == "Service" && u.GetAPIVersion() == "v1" {
			var svc corev1.Service
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &svc); err != nil {
				return nil, nil, fmt.Errorf("reading Service %s: %w", u.GetName(), err)
			}
			services = append(services, svc)
			continue
		}
		keep = append(keep, u)
	}
	return keep, services, nil
}

func readCluster(ctx context.Context, c *kube.Clients, legacyNS string) ([]*unstructured.Unstructured, []corev1.Service, error) {
	objs, found, err := FromCluster(ctx, c.Dynamic, legacyNS)
	if err != nil {
		return nil, nil, kube.Plain(err, c.Host)
	}
	if !found {
		return nil, nil, fmt.Errorf("no MetalLB configuration in the cluster at %s: it serves no metallb.io resources and has no ConfigMap %s/config; pass the files with -f", c.Host, legacyNS)
	}
	var list corev1.ServiceList
	if err := c.Client.List(ctx, &list); err != nil {
		return nil, nil, kube.Plain(err, c.Host)
	}
	return objs, list.Items, nil
}

func printServices(w *textout.Writer, checks []ServiceCheck, checked bool) {
	if !checked {
		w.Println("Services: not checked (no cluster and no Service in the files).")
		return
	}
	edits := 0
	for _, c := range checks {
		if c.Edit {
			edits++
		}
	}
	w.Printf("Services: %d need an edit.\n", edits)
	for _, c := range checks {
		mark := "ok  "
		if c.Edit {
			mark = "EDIT"
		}
		w.Printf("  %s %s: %s\n", mark, c.Service, c.Message)
	}
}

// apply creates each object, or updates it when it exists.
func apply(ctx context.Context, c *kube.Clients, objs []client.Object, out io.Writer) error {
	for _, o := range objs {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		existing, ok := o.DeepCopyObject().(client.Object)
		if !ok {
			return errors.New("internal error: not an object")
		}
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(o), existing)
		switch {
		case apierrors.IsNotFound(err):
			if err := c.Client.Create(ctx, o); err != nil {
				return kube.Plain(fmt.Errorf("%s %s: %w", kind, o.GetName(), err), c.Host)
			}
			if _, err := fmt.Fprintf(out, "%s %s created\n", kind, o.GetName()); err != nil {
				return err
			}
		case err != nil:
			return kube.Plain(err, c.Host)
		default:
			o.SetResourceVersion(existing.GetResourceVersion())
			if err := c.Client.Update(ctx, o); err != nil {
				return kube.Plain(fmt.Errorf("%s %s: %w", kind, o.GetName(), err), c.Host)
			}
			if _, err := fmt.Fprintf(out, "%s %s updated\n", kind, o.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}
