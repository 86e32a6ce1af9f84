package natslog

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCaptureLock: a capture lock held and renewed refuses a second
// capture with an error naming the holder; released, it is taken at
// once; left by a capture of another host that stopped renewing it
// (killed), it is waited out and taken; one taken by another capture
// while its holder could not renew it is lost, with a reason.
func TestCaptureLock(t *testing.T) {
	lg, ctx := testLog(t)
	old := CaptureLease
	CaptureLease = time.Second
	defer func() { CaptureLease = old }()

	first, err := lg.LockCapture(ctx, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lg.LockCapture(ctx, "s", nil); err == nil || !strings.Contains(err.Error(), "another etlq capture of source s is running (pid ") {
		t.Fatalf("a second lock: %v", err)
	}
	first.Release()
	second, err := lg.LockCapture(ctx, "s", nil)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	second.stop() // killed: no longer renewed, not removed
	<-second.done
	kv, err := lg.js.KeyValue(lg.names("s").capture)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(captureHolder{Host: "elsewhere", PID: 1, Since: time.Now()})
	if _, err := kv.Put(captureLockKey, b); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	third, err := lg.LockCapture(ctx, "s", nil)
	if err != nil {
		t.Fatalf("a lock left behind was not taken once expired: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	// Taken from under it: the holder learns so at its next renewal.
	host, _ := os.Hostname()
	b, _ = json.Marshal(captureHolder{Host: host, PID: os.Getpid(), Since: time.Now()})
	if _, err := kv.Put(captureLockKey, b); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-third.Lost:
		if !strings.Contains(err.Error(), "took its capture lock while this one could not renew it") {
			t.Errorf("lost: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lock taken from under its holder was not lost")
	}
	third.Release()
}

// TestCaptureHolderLocalZone: the capture lock's holder, stored in UTC, is
// shown with its start in the local zone, the zone of the log lines that
// show it ("since …Z" beside lines at +05:30 before). The zone is read
// once per process, so the test runs itself again under TZ=Asia/Kolkata.
func TestCaptureHolderLocalZone(t *testing.T) {
	if os.Getenv("ETLQ_TEST_ZONE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCaptureHolderLocalZone$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ETLQ_TEST_ZONE_CHILD=1", "TZ=Asia/Kolkata")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("under TZ=Asia/Kolkata: %v\n%s", err, out)
		}
		return
	}
	h := captureHolder{Host: "db1", PID: 42, Since: time.Date(2026, 12, 6, 17, 8, 36, 0, time.UTC)}
	if got, want := h.String(), "pid 42 on db1, since 2026-12-06T22:38:36+05:30"; got != want {
		t.Fatalf("holder %q, want %q", got, want)
	}
}

// TestCaptureLockOwnRenewalLanded: a renewal that the server applied but
// whose answer the capture never got (the NATS server restarted under it:
// the client sends the buffered request again once reconnected, after the
// request timed out) leaves the lock at a revision the capture does not
// know, holding the capture's own value. The capture keeps its lock.
// Before, its next renewal failed on the revision and it stopped with
// `another etlq capture of source s (pid <its own pid> …) took its capture
// lock`, naming itself (scale-out trial: nats-server stopped for 8 s).
func TestCaptureLockOwnRenewalLanded(t *testing.T) {
	lg, ctx := testLog(t)
	old := CaptureLease
	CaptureLease = time.Second
	defer func() { CaptureLease = old }()

	c, err := lg.LockCapture(ctx, "own", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	kv, err := lg.js.KeyValue(lg.names("own").capture)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(captureLockKey)
	if err != nil {
		t.Fatal(err)
	}
	landed, err := kv.Put(captureLockKey, e.Value()) // its own renewal, answer lost
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case err := <-c.Lost:
			t.Fatalf("the capture lost its own lock: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		e, err := kv.Get(captureLockKey)
		if err != nil {
			t.Fatal(err)
		}
		if e.Revision() > landed {
			if string(e.Value()) != string(c.val) {
				t.Fatalf("the lock holds %s", e.Value())
			}
			return // renewed after the revision it did not know
		}
	}
}
