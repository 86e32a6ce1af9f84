package engine

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestStateDirLock: a second lock on a held state directory fails at once
// naming the holder; once released, the directory can be locked again.
func TestStateDirLock(t *testing.T) {
	dir := t.TempDir() + "/state"
	l, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockStateDir(dir)
	host, _ := os.Hostname()
	if err == nil || !strings.Contains(err.Error(), "is in use by another etlq") || !strings.Contains(err.Error(), fmt.Sprintf("pid %d on host %s", os.Getpid(), host)) {
		t.Fatalf("second lock: %v", err)
	}
	l.release()
	l2, err := lockStateDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.release()
}

// TestStateDirLockStaleTemps: the temporary file of a checkpoint write
// cut short stays while another process holds the lock (it may be
// writing it), and is removed by the next process that takes the lock.
func TestStateDirLockStaleTemps(t *testing.T) {
	dir := t.TempDir() + "/state"
	l, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dir + "/" + tempPrefix + "source-s.json-42"
	if err := os.WriteFile(tmp, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lockStateDir(dir); err == nil {
		t.Fatal("second lock: want refused")
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("a lock refused removed the holder's temporary file: %v", err)
	}
	l.release()
	l2, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.release()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("want the stale temporary file removed, got %v", err)
	}
}
