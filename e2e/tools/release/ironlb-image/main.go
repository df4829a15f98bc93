// Command ironlb-image builds ironlb's container images without a container daemon and
// without pulling a base image, pushes them to a registry, and serves a throwaway
// registry for tests.
//
//	ironlb-image build -binary bin/images/ironlb-controller -ref localhost/ironlb/ironlb-controller:0.1.0 -o bin/images/ironlb-controller.tar
//	ironlb-image push bin/images/ironlb-controller.tar registry.example.com/ironlb/ironlb-controller:0.1.0
//	ironlb-image registry -addr 127.0.0.1:0
//
// An image is one layer holding one static binary at /, on an empty base, run as user
// 65532:65532 with the binary as the entrypoint: nothing else is in it to patch or exploit.
// The tarball is both an OCI image layout (index.json, blobs/, for containerd's `ctr
// images import` and `kind load image-archive`) and a `docker save` archive (manifest.json,
// for `docker load` and `podman load`). Files have fixed times, so a build is reproducible.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the numeric user and group the images run as (the "nonroot" convention).
const User = "65532:65532"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = buildCmd(os.Args[2:])
	case "push":
		err = pushCmd(os.Args[2:])
	case "registry":
		err = registryCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ironlb-image:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ironlb-image build -binary FILE -ref NAME:TAG -o FILE.tar | push FILE.tar NAME:TAG | registry -addr HOST:PORT")
	os.Exit(2)
}

func buildCmd(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	binary := fs.String("binary", "", "static linux binary to put at / and run")
	ref := fs.String("ref", "", "image name and tag, e.g. localhost/ironlb/ironlb-controller:0.1.0")
	out := fs.String("o", "", "output tarball")
	arch := fs.String("arch", runtime.GOARCH, "architecture the binary was built for")
	_ = fs.Parse(args)
	if *binary == "" || *ref == "" || *out == "" {
		return errors.New("build needs -binary, -ref and -o")
	}
	tag, err := name.NewTag(*ref)
	if err != nil {
		return err
	}
	img, err := build(*binary, *arch, tag.TagStr())
	if err != nil {
		return err
	}
	return writeArchive(*out, tag, img)
}

// build makes the image: an empty OCI base, one layer with the binary, a config that
// runs it as a non-root user.
func build(binary, arch, version string) (v1.Image, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	base := filepath.Base(binary)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: base, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{"/" + base},
		WorkingDir: "/",
		Labels: map[string]string{
			"org.opencontainers.image.title":   base,
			"org.opencontainers.image.version": version,
			"org.opencontainers.image.source":  "https://github.com/ironlb/ironlb",
		},
	}
	return mutate.ConfigFile(img, cf)
}

// writeArchive writes the image as an OCI layout plus a docker-save manifest.json, in
// one tarball.
func writeArchive(out string, tag name.Tag, img v1.Image) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	files := []archiveFile{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{blobPath(digest), manifest},
		{blobPath(configDigest), config},
	}
	var layerPaths []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
		files = append(files, archiveFile{blobPath(d), b})
		layerPaths = append(layerPaths, blobPath(d))
	}
	index := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests": []map[string]any{{
			"mediaType": types.OCIManifestSchema1,
			"digest":    digest.String(),
			"size":      len(manifest),
			"annotations": map[string]string{
				"io.containerd.image.name":          tag.Name(),
				"org.opencontainers.image.ref.name": tag.TagStr(),
			},
		}},
	}
	docker := []map[string]any{{
		"Config":   blobPath(configDigest),
		"RepoTags": []string{tag.String()},
		"Layers":   layerPaths,
	}}
	for _, j := range []struct {
		name string
		v    any
	}{{"index.json", index}, {"manifest.json", docker}} {
		b, err := json.Marshal(j.v)
		if err != nil {
			return err
		}
		files = append(files, archiveFile{j.name, b})
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	dirs := map[string]bool{}
	for _, file := range files {
		for dir := path.Dir(file.name); dir != "." && !dirs[dir]; dir = path.Dir(dir) {
			dirs[dir] = true
		}
	}
	for _, dir := range []string{"blobs", "blobs/sha256"} {
		if dirs[dir] {
			if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
				return err
			}
		}
	}
	for _, file := range files {
		if err := tw.WriteHeader(&tar.Header{Name: file.name, Mode: 0o644, Size: int64(len(file.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(file.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

type archiveFile struct {
	name string
	data []byte
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// pushCmd copies the image in a tarball written by build to a registry, with the
// credentials of ~/.docker/config.json (as docker login writes them), if any.
func pushCmd(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	insecure := fs.Bool("insecure", false, "allow a plain-HTTP registry (localhost and 127.0.0.1 are always allowed)")
	_ = fs.Parse(args)
	if fs.NArg() != 2 {
		return errors.New("push needs FILE.tar and NAME:TAG")
	}
	var opts []name.Option
	if *insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewTag(fs.Arg(1), opts...)
	if err != nil {
		return err
	}
	img, cleanup, err := readArchive(fs.Arg(0))
	if err != nil {
		return err
	}
	defer cleanup()
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("pushed %s@%s\n", ref, d)
	return nil
}

// readArchive reads the OCI layout inside a tarball written by build, so the pushed
// manifest is byte for byte the one that was built (same digest). cleanup removes the
// unpacked copy once the image has been used.
func readArchive(file string) (img v1.Image, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "ironlb-image-")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		target := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+hdr.Name)))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return nil, nil, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return nil, nil, err
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, nil, err
			}
			if err := os.WriteFile(target, b, 0o644); err != nil {
				return nil, nil, err
			}
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not an OCI image layout: %w", file, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	if len(im.Manifests) != 1 {
		return nil, nil, fmt.Errorf("%s holds %d images, want 1", file, len(im.Manifests))
	}
	img, err = idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return nil, nil, err
	}
	return img, cleanup, nil
}

// registryCmd serves an in-memory registry, for tests that stand in for the user's
// registry. It prints its address on the first line and runs until killed.
func registryCmd(args []string) error {
	fs := flag.NewFlagSet("registry", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	_ = fs.Parse(args)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println(l.Addr().String())
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(l)
}
