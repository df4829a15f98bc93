package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// What a cluster lab leaves beyond processes, namespaces and links, and how the sweep finds
// it without trusting any record of it: containers are not children of the lab and do
// not carry its marker, but each sits in a network namespace of the lab (a node's, for
// hostNetwork pods, or a pod's, which containerd mounts in the node's state folder);
// containerd and the kubelet mount overlays, shm, tmpfs volumes and namespaces under the
// lab's folder; and runc creates a cgroup per container under the lab's cgroup parent.

// labNetnsInodes returns the inode numbers of the pod network namespaces that containerd
// mounted under the lab folders in stateDir (nodes/*/containerd/state/netns/*).
func labNetnsInodes(stateDir string) map[uint64]bool {
	inodes := map[uint64]bool{}
	files, _ := filepath.Glob(filepath.Join(stateDir, "ilb*", "nodes", "*", "containerd", "state", "netns", "*"))
	for _, f := range files {
		var st unix.Stat_t
		if unix.Stat(f, &st) == nil {
			inodes[st.Ino] = true
		}
	}
	return inodes
}

// processesInNetns returns the processes whose network namespace is one of inodes.
func processesInNetns(inodes map[uint64]bool) []int {
	if len(inodes) == 0 {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net"))
		if err != nil {
			continue
		}
		// "net:[4026532281]"
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "net:["), "]"), 10, 64)
		if err == nil && inodes[ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// labMounts returns the mount points under stateDir's lab folders, deepest first, so
// each is unmounted before the one it sits on.
func labMounts(stateDir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var mounts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		rel, err := filepath.Rel(stateDir, mp)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if first, _, _ := strings.Cut(rel, string(filepath.Separator)); prefixPattern.MatchString(first) {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return strings.Count(mounts[i], "/") > strings.Count(mounts[j], "/") })
	return mounts
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space, etc.).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll detaches every mount under the lab folders of stateDir.
func unmountAll(stateDir string) error {
	var errs []error
	for _, mp := range labMounts(stateDir) {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	if left := labMounts(stateDir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("mounts left under %s: %s", stateDir, strings.Join(left, ", ")))
	}
	return errors.Join(errs...)
}

// labContainerIDs returns the ids of the containers (and pod sandboxes) that the lab's
// containerds ran, from their task state folders; runc names each one's cgroup after it.
func labContainerIDs(stateDir string) map[string]bool {
	ids := map[string]bool{}
	for _, pattern := range []string{
		filepath.Join(stateDir, "ilb*", "nodes", "*", "containerd", "state", "io.containerd.runtime.v2.task", "k8s.io", "*"),
		filepath.Join(stateDir, "ilb*", "nodes", "*", "containerd", "root", "io.containerd.grpc.v1.cri", "containers", "*"),
		filepath.Join(stateDir, "ilb*", "nodes", "*", "containerd", "root", "io.containerd.grpc.v1.cri", "sandboxes", "*"),
	} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			ids[filepath.Base(f)] = true
		}
	}
	return ids
}

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// labCgroups returns the cgroup folders named after one of ids, in every hierarchy,
// deepest first.
func labCgroups(ids map[string]bool) []string {
	if len(ids) == 0 {
		return nil
	}
	var found []string
	_ = filepath.WalkDir(cgroupRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // an unreadable cgroup is not ours to remove; keep walking
		}
		if !d.IsDir() {
			return nil
		}
		if ids[d.Name()] {
			found = append(found, path)
		}
		// Container cgroups are a few levels down (HIERARCHY/k8s.io/ID); deeper folders
		// are other software's.
		if rel, _ := filepath.Rel(cgroupRoot, path); strings.Count(rel, "/") >= 3 {
			return filepath.SkipDir
		}
		return nil
	})
	sort.Slice(found, func(i, j int) bool { return strings.Count(found[i], "/") > strings.Count(found[j], "/") })
	return found
}

// removeCgroups removes the (by now empty) cgroups of the lab's containers. A killed
// container whose shim died first is reparented to PID 1, and it stays in its cgroup as a
// zombie until PID 1 reaps it (on these machines PID 1 does so only now and then), so the
// removal waits up to 20 s for the cgroups to empty.
func removeCgroups(ids map[string]bool) error {
	if len(ids) == 0 {
		return nil
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if len(processesInContainerCgroups(ids)) == 0 {
			break
		}
	}
	var errs []error
	for _, dir := range labCgroups(ids) {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// processesInContainerCgroups returns the processes whose cgroup (in any hierarchy) is
// named after one of ids: the containers of the lab, wherever their namespaces are.
func processesInContainerCgroups(ids map[string]bool) []int {
	if len(ids) == 0 {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if i := strings.LastIndexByte(line, '/'); i >= 0 && ids[line[i+1:]] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
