package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// readSecrets reads the memberlist Secret as mounted: the primary file, and the files
// beside it named after it with a dot and a suffix (secretkey.next, secretkey.previous),
// whose keys are accepted too, for a rotation in progress. A Kubernetes Secret volume
// holds one file per key of the Secret, so adding a key "secretkey.next" to the Secret is
// all it takes; kubelet's own entries ("..data") never match.
func readSecrets(primary string) ([]byte, [][]byte, error) {
	p, err := os.ReadFile(primary)
	if err != nil {
		return nil, nil, err
	}
	dir, base := filepath.Split(primary)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil, nil, err
	}
	var accepted [][]byte
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base+".") || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		accepted = append(accepted, b)
	}
	return p, accepted, nil
}

// secretsReloadEvery is how often the mounted Secret is read again. kubelet updates a
// mounted Secret within about a minute of an edit, so a few seconds more do not matter.
const secretsReloadEvery = 5 * time.Second

// reloadSecrets reads the mounted Secret every secretsReloadEvery and hands new keys to
// set, so rotating the key needs no restart. A Secret that cannot be read or is too short
// keeps the keys in use (set says why) and is tried again.
func reloadSecrets(ctx context.Context, path string, set func(primary []byte, accepted [][]byte) error,
	log interface {
		Info(string, ...any)
		Warn(string, ...any)
	}) {
	lastP, lastA, _ := readSecrets(path)
	t := time.NewTicker(secretsReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p, a, err := readSecrets(path)
		if err != nil {
			log.Warn("cannot read the memberlist Secret; keeping the keys in use", "error", err)
			continue
		}
		if bytes.Equal(p, lastP) && slices.EqualFunc(a, lastA, bytes.Equal) {
			continue
		}
		if err := set(p, a); err != nil {
			log.Warn("the memberlist Secret changed but cannot be used; keeping the keys in use", "error", err)
			continue
		}
		lastP, lastA = p, a
		log.Info("memberlist keys reloaded from the Secret", "accepted", len(a)+1)
	}
}
