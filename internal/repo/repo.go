// Package repo finds the repository's root folder, so tests and the lab, run from any
// package folder, find bin/, config/ and e2e/results/.
package repo

import (
	"errors"
	"os"
	"path/filepath"
)

// Root returns the nearest folder at or above the working directory that holds go.mod and
// api/ (the ironlb module, not the nested e2e/tools module).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the ironlb repository root (go.mod beside api/) is not above the working directory")
		}
		dir = parent
	}
}

func isRoot(dir string) bool {
	for _, name := range []string{"go.mod", "api"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}
