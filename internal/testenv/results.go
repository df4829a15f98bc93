package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// BenchEnabled reports whether IRONLB_BENCH is set (IRONLB_BENCH=1, as for e2e/bench): a
// test that measures a timing logs it always, but writes it to e2e/results only then, since
// a figure is reported, not asserted.
func BenchEnabled() bool { return os.Getenv("IRONLB_BENCH") != "" }

// WriteResult writes v as indented JSON to e2e/results/NAME (git-ignored) and returns the
// path, so one place decides where results live and how they read.
func WriteResult(t testing.TB, name string, v any) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "e2e", "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
