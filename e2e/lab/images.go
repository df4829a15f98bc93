package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ironlb/ironlb/e2e/lab/host"
)

// The lab's own images, built at Start from e2e/cmd with the project's image tool
// (bin/ironlb-image): the pod sandbox every node's containerd uses, and the HTTP server
// that tests and demo users deploy. Their tag is fixed because nothing pulls them: they
// are imported into every node, and a tag other than "latest" makes the kubelet's default
// pull policy IfNotPresent.
const (
	PauseImage     = "localhost/ironlb/pause:lab"
	PodserverImage = "localhost/ironlb/podserver:lab"
)

// labImage is an image the lab builds from a command of this repository.
type labImage struct {
	pkg, ref, file string
}

func (l *Lab) labImages() []labImage {
	dir := filepath.Join(l.bin, "images")
	return []labImage{
		{pkg: "./e2e/cmd/pause", ref: PauseImage, file: filepath.Join(dir, "lab-pause.tar")},
		{pkg: "./e2e/cmd/podserver", ref: PodserverImage, file: filepath.Join(dir, "lab-podserver.tar")},
	}
}

// ironlbImages are the tarballs `make images` writes; the chart's default image names are
// the references inside them.
func (l *Lab) ironlbImages() []string {
	dir := filepath.Join(l.bin, "images")
	return []string{filepath.Join(dir, "ironlb-controller.tar"), filepath.Join(dir, "ironlb-speaker.tar")}
}

// buildLabImages builds the pause and podserver images (static binaries; the Go build cache
// makes a warm build a link step). Each is written under a temporary name first, so an
// import never reads half a tarball.
func (l *Lab) buildLabImages(ctx context.Context) error {
	tool := filepath.Join(l.bin, "ironlb-image")
	if _, err := os.Stat(tool); err != nil {
		return fmt.Errorf("%s not found: run `make tools`", tool)
	}
	if err := os.MkdirAll(filepath.Join(l.bin, "images"), 0o755); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(l.labImages()))
	for i, img := range l.labImages() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.buildLabImage(ctx, tool, img)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) buildLabImage(ctx context.Context, tool string, img labImage) error {
	binDir := filepath.Join(l.Dir, "image-build", filepath.Base(img.pkg))
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	binary := filepath.Join(binDir, filepath.Base(img.pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary, img.pkg)
	cmd.Dir = l.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", img.pkg, err, out)
	}
	tmp := img.file + ".tmp"
	if _, err := host.Run(ctx, tool, "build", "-binary", binary, "-ref", img.ref, "-o", tmp); err != nil {
		return err
	}
	return os.Rename(tmp, img.file)
}

// importImages loads every image the nodes need into a node's containerd, in the k8s.io
// namespace where the kubelet looks.
func (l *Lab) importImages(ctx context.Context, n *Node) error {
	files := l.ironlbImages()
	for _, img := range l.labImages() {
		files = append(files, img.file)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			if strings.Contains(filepath.Base(f), "ironlb-") {
				return fmt.Errorf("%s not found: run `make images`", f)
			}
			return err
		}
		if _, err := host.Run(ctx, "ctr", "-a", l.containerdSocket(n), "-n", "k8s.io", "images", "import", f); err != nil {
			return fmt.Errorf("import %s on %s: %w", filepath.Base(f), n.Name, err)
		}
	}
	return nil
}
