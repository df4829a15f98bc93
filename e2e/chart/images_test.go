package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// appVersion is the chart's appVersion, the tag of the images.
func appVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir(t), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := utilyaml.Unmarshal(data, &c); err != nil || c.AppVersion == "" {
		t.Fatalf("Chart.yaml has no appVersion: %v", err)
	}
	return c.AppVersion
}

// TestImages reads the image tarballs `make images` wrote to bin/images/ and checks them
// against the chart's defaults: the name and tag the chart pulls, a non-root user, the
// binary as the entrypoint, a single layer with one static binary, and a small size.
func TestImages(t *testing.T) {
	bin(t, "ironlb-image", "tools")
	data, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Image struct {
			Registry, Controller, Speaker, Tag string
		}
	}
	if err := utilyaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	if values.Image.Tag != "" {
		t.Errorf("values.yaml image.tag is %q; empty means the chart's appVersion, which make images tags with", values.Image.Tag)
	}
	for _, name := range []string{values.Image.Controller, values.Image.Speaker} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(root(t), "bin", "images", name+".tar")
			files := readTar(t, path)
			want := values.Image.Registry + "/" + name + ":" + appVersion(t)

			var index struct {
				Manifests []struct {
					Digest      string
					Annotations map[string]string
				}
			}
			mustJSON(t, files["index.json"], &index)
			if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != want {
				t.Fatalf("index.json names %+v, want one image %s (the chart's default)", index.Manifests, want)
			}
			var docker []struct {
				Config   string
				RepoTags []string
				Layers   []string
			}
			mustJSON(t, files["manifest.json"], &docker)
			if len(docker) != 1 || !slices.Equal(docker[0].RepoTags, []string{want}) {
				t.Fatalf("manifest.json tags %+v, want [%s]", docker, want)
			}
			var manifest struct {
				Config struct{ Digest string }
				Layers []struct{ Digest string }
			}
			mustJSON(t, files[blob(index.Manifests[0].Digest)], &manifest)
			if "blobs/sha256/"+strings.TrimPrefix(manifest.Config.Digest, "sha256:") != docker[0].Config {
				t.Errorf("the OCI manifest and manifest.json name different configs")
			}
			var config struct {
				OS, Architecture string
				Config           struct {
					User       string
					Entrypoint []string
				}
			}
			mustJSON(t, files[blob(manifest.Config.Digest)], &config)
			if config.Config.User != "65532:65532" {
				t.Errorf("image user %q, want 65532:65532 (non-root)", config.Config.User)
			}
			if !slices.Equal(config.Config.Entrypoint, []string{"/" + name}) || config.OS != "linux" {
				t.Errorf("image runs %v on %s, want [/%s] on linux", config.Config.Entrypoint, config.OS, name)
			}
			if len(manifest.Layers) != 1 {
				t.Fatalf("%d layers, want 1", len(manifest.Layers))
			}
			zr, err := gzip.NewReader(bytes.NewReader(files[blob(manifest.Layers[0].Digest)]))
			if err != nil {
				t.Fatal(err)
			}
			layer := readTarStream(t, zr)
			var names []string
			for n := range layer {
				names = append(names, n)
			}
			if !slices.Equal(names, []string{name}) {
				t.Fatalf("layer holds %v, want only %s", names, name)
			}
			exe, err := elf.NewFile(bytes.NewReader(layer[name]))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range exe.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked; the image has no libc", name)
				}
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.1f MiB", path, float64(st.Size())/(1<<20))
			if st.Size() > 40<<20 {
				t.Errorf("%s is %d bytes; more than 40 MiB for one static binary", path, st.Size())
			}
		})
	}
}

func blob(digest string) string { return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:") }

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v in %q", err, data)
	}
}

// readTar returns the regular files of a tarball (made by make images).
func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v: run `make images`", err)
	}
	defer func() { _ = f.Close() }()
	return readTarStream(t, f)
}

func readTarStream(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = data
	}
}
