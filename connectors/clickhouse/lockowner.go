package clickhouse

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// A re-key lock's heartbeat row names its writer: the lock's token, then
// the process as this machine knows it (the kernel's boot id, the pid
// namespace, the pid and the process's start time). A writer that finds
// the lock held by a process of its own kernel and pid namespace that no
// longer runs — etlq killed in the middle of a copy, then started again —
// takes it over at once instead of waiting rekeyLockStale for the
// heartbeat to age. A lock of another machine, container or kernel (or
// of an etlq before this) ages as before: a pid means nothing there.

// processIdentity is this process's identity, "" where /proc does not
// tell it (not Linux).
var processIdentity = sync.OnceValue(func() string {
	return identityOf(os.Getpid())
})

// identityOf is "boot=<id> pidns=<ns> pid=<pid> start=<ticks>" of the
// process pid of this kernel and pid namespace, "" when it is not running
// (or /proc does not say).
func identityOf(pid int) string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	start, ok := processStart(pid)
	if !ok {
		return ""
	}
	return fmt.Sprintf("boot=%s pidns=%s pid=%d start=%d", strings.TrimSpace(string(boot)), ns, pid, start)
}

// processStart is the start time (clock ticks after boot) of process pid,
// from /proc/<pid>/stat; ok false when no such process runs.
func processStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted from the last ')' on (state is field 3, starttime 22).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	if f[0] == "Z" || f[0] == "X" { // a zombie or dead: not running
		return 0, false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}

// lockOwner is the owner value of a heartbeat row of this writer.
func lockOwner(token string) string {
	if id := processIdentity(); id != "" {
		return token + " " + id
	}
	return token
}

// ownerGone reports whether a heartbeat row's owner is a process of this
// kernel and pid namespace that no longer runs (its pid free, or taken by
// a process started later). false when it cannot tell.
func ownerGone(owner string) bool {
	mine := processIdentity()
	if mine == "" {
		return false
	}
	theirs := parseIdentity(owner)
	ours := parseIdentity("x " + mine)
	if theirs == nil || theirs["boot"] != ours["boot"] || theirs["pidns"] != ours["pidns"] {
		return false
	}
	pid, err := strconv.Atoi(theirs["pid"])
	if err != nil || pid <= 0 {
		return false
	}
	start, running := processStart(pid)
	return !running || strconv.FormatUint(start, 10) != theirs["start"]
}

// parseIdentity reads "token boot=… pidns=… pid=… start=…"; nil when the
// owner has no identity (another etlq's, or from a system without /proc).
func parseIdentity(owner string) map[string]string {
	f := strings.Fields(owner)
	if len(f) != 5 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return nil
		}
		m[k] = v
	}
	for _, k := range []string{"boot", "pidns", "pid", "start"} {
		if m[k] == "" {
			return nil
		}
	}
	return m
}
