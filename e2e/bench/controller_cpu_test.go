package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// controlPlane holds the pids of the kube-apiserver and etcd that testenv started.
type controlPlane struct{ apiserver, etcd int }

func findControlPlane(t *testing.T) controlPlane {
	t.Helper()
	var cp controlPlane
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, _, ok := procStat(pid)
		if !ok || ppid != self {
			continue
		}
		switch comm {
		case "kube-apiserver":
			cp.apiserver = pid
		case "etcd":
			cp.etcd = pid
		}
	}
	if cp.apiserver == 0 || cp.etcd == 0 {
		t.Logf("could not find the API server (%d) or etcd (%d) among this process's children: their CPU shows as 0", cp.apiserver, cp.etcd)
	}
	return cp
}

// procStat reads a process's name, parent and CPU seconds from /proc.
func procStat(pid int) (comm string, ppid int, cpu float64, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, false
	}
	s := string(data)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const ticks = 100 // USER_HZ on Linux
	return s[open+1 : closing], ppid, (utime + stime) / ticks, true
}

func (cp controlPlane) sample() CPU {
	var c CPU
	if cp.apiserver != 0 {
		_, _, c.APIServer, _ = procStat(cp.apiserver)
	}
	if cp.etcd != 0 {
		_, _, c.Etcd, _ = procStat(cp.etcd)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		c.Test = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return c
}

func (cp controlPlane) since(before CPU) CPU {
	now := cp.sample()
	return CPU{APIServer: round2(now.APIServer - before.APIServer), Etcd: round2(now.Etcd - before.Etcd), Test: round2(now.Test - before.Test)}
}
