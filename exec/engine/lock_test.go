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
