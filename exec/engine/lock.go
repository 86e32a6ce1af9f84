package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// lockName is the lock file of a state directory.
const lockName = "lock"

// stateLock holds a state directory for one process: an exclusive flock on
// <state-dir>/lock, which the kernel releases when the process ends, kill -9
// included. The file holds the holder's pid, host and start time, for the
// message a second process gets. The file is never removed: a process that
// opened it before a removal would lock an inode nobody else sees.
type stateLock struct {
	f *os.File
}

// errLocked is the cause of a refused lock: another process holds it.
var errLocked = errors.New("state directory in use")

// lockStateDir takes the lock of dir, creating dir when missing. It fails at
// once, without waiting, when another process holds it: two processes on
// one state directory overwrite each other's checkpoints, and with the same
// replica server_id they disconnect each other from the binlog.
func lockStateDir(dir string) (*stateLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open state directory lock: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
		}
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if s := lockHolder(b); s != "" {
				holder = s
			}
		}
		return nil, fmt.Errorf("state directory %s is in use by another etlq (%s): one process per state directory; stop it, or give this run its own --state-dir", dir, holder)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d on host %s, since %s\n", os.Getpid(), host, time.Now().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
		f.Sync()
	}
	removeStaleTemps(dir)
	removeStaleTemps(filepath.Join(dir, "deadletter")) // (a ClearedFile's)
	return &stateLock{f: f}, nil
}

// lockHolder is the holder a lock file names, its start in the local
// zone, the zone of the log lines around the message that shows it: a
// lock written in UTC (before, or by a process in another zone) said
// "since …Z" next to lines at +05:30.
func lockHolder(b []byte) string {
	s := strings.TrimSpace(string(b))
	i := strings.LastIndex(s, ", since ")
	if i < 0 {
		return s
	}
	at, err := time.Parse(time.RFC3339, s[i+len(", since "):])
	if err != nil {
		return s
	}
	return s[:i] + ", since " + at.Local().Format(time.RFC3339)
}

// tempPrefix begins the name of the temporary file writeFileAtomic
// renames over a checkpoint (source-<name>.json), a source's definitions
// or targets.
const tempPrefix = ".tmp-"

// removeStaleTemps removes the temporary files writeFileAtomic left in dir
// when a process died between their creation and their rename (kill -9,
// a crash, the power lost while a checkpoint was written): only the
// process holding dir's lock writes them, so once it is held none is in
// use. The checkpoint itself is never half-written: the rename is atomic.
// A file that cannot be removed stays, as it did before.
func removeStaleTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), tempPrefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// StateLock is a state directory's lock taken before a Run
// (LockStateDir), handed to it in Options.Lock.
type StateLock struct {
	dir string
	l   *stateLock
}

// LockStateDir takes dir's lock as Run would, for a command that plans
// against the servers first: `etlq apply` on a directory another process
// holds stops at once, before it connects to any server or logs
// "starting" (docs/operations.md). It fails as Run's lock fails. Pass it
// in Options.Lock: Run keeps it and releases it at its end; Release
// drops it when no Run follows.
func LockStateDir(dir string) (*StateLock, error) {
	l, err := lockStateDir(dir)
	if err != nil {
		return nil, err
	}
	return &StateLock{dir: dir, l: l}, nil
}

// Release drops the lock; it is safe on nil and after a Run took it.
func (s *StateLock) Release() {
	if s != nil {
		s.l.release()
	}
}

// take returns the held lock of dir, or takes it when l holds no lock
// of dir (nil, or another directory's: a log worker's own
// worker-N directory).
func (s *StateLock) take(dir string) (*stateLock, error) {
	if s != nil && s.l != nil && s.l.f != nil && filepath.Clean(s.dir) == filepath.Clean(dir) {
		return s.l, nil
	}
	return lockStateDir(dir)
}

// release drops the lock (the kernel does it too when the process ends).
func (l *stateLock) release() {
	if l == nil || l.f == nil {
		return
	}
	funlock(l.f)
	l.f.Close()
	l.f = nil
}
