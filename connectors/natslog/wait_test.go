package natslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// syncWriter is a bytes.Buffer safe for a logger's goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestStartWhileServerSlow: the requests a worker makes to start — the
// pipelines the capture recorded, the group's workers, where the group
// starts, the stream, the group's floor and the lease bucket — made while
// the server answers nothing within the client's 5 s (every byte to it
// held 6 s by a proxy, for 8 s) wait for it and succeed once it answers.
// Before, the first of them failed after 5 s with `context deadline
// exceeded` and nothing else, and the worker stopped with it (a CI run at
// load 19, TestLogTakeOverBehindDDL/B: `etlq: context deadline exceeded`).
func TestStartWhileServerSlow(t *testing.T) {
	host := strings.TrimPrefix(testenv.NATSURL(t), "nats://")
	px := testenv.NewCutProxy(t, host)
	ns := testenv.UniqueName(t)
	direct, err := Open(testenv.NATSURL(t) + "/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	defer direct.DeleteSource("s")
	if _, err := direct.ensureStream("s", 2, Retention{}); err != nil {
		t.Fatal(err)
	}
	if err := direct.SetCapturedPipelines("s", []string{"p"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var logged syncWriter
	lg, err := Dial(ctx, "nats://"+px.Addr()+"/"+ns, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()

	slowFor := func(d time.Duration) {
		px.Slow(6 * time.Second)
		time.AfterFunc(d, func() { px.Slow(0) })
	}
	start := time.Now()
	slowFor(8 * time.Second)
	names, found, err := lg.CapturedPipelines("s")
	if err != nil || !found || len(names) != 1 || names[0] != "p" {
		t.Fatalf("captured pipelines while the server is slow: %v %v %v (after %s)", names, found, err, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("captured pipelines after %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(logged.String(), `waiting_for="the KV bucket \"`+ns+`_s_resnapshots\"" server=nats://`+px.Addr()) {
		t.Errorf("want a warning naming what is waited for, got:\n%s", logged.String())
	}

	start = time.Now()
	slowFor(8 * time.Second)
	if _, err := lg.GroupWorkers("s", "apply"); err != nil {
		t.Fatalf("group workers while the server is slow: %v", err)
	}
	if _, err := lg.StartResume("s", "apply"); err != nil {
		t.Fatalf("start resume while the server is slow: %v", err)
	}
	t.Logf("group workers and start after %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	slowFor(8 * time.Second)
	src := lg.Source("s", nil, WorkerOptions{Lease: 3 * time.Second})
	st, err := src.Open(ctx, connectors.StreamRequest{})
	if err != nil {
		t.Fatalf("a worker's stream opened while the server is slow: %v", err)
	}
	t.Logf("worker stream opened after %s", time.Since(start).Round(time.Millisecond))
	st.Close()
}

// TestWaitErrorsSayWhat: a request given up — the process stopping while
// the server does not answer, or a server that has no JetStream — says
// what it waited for and where, not `context deadline exceeded` alone.
func TestWaitErrorsSayWhat(t *testing.T) {
	host := strings.TrimPrefix(testenv.NATSURL(t), "nats://")
	ns := testenv.UniqueName(t)
	t.Run("stopped while waiting", func(t *testing.T) {
		px := testenv.NewCutProxy(t, host)
		ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
		defer cancel()
		lg, err := Dial(ctx, "nats://"+px.Addr()+"/"+ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer lg.Close()
		px.Slow(10 * time.Second)
		defer px.Slow(0)
		_, _, err = lg.CapturedPipelines("s")
		want := `waiting for the KV bucket "` + ns + `_s_resnapshots" at nats://` + px.Addr() + `: context deadline exceeded`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("want an error naming what it waited for (%s), got %v", want, err)
		}
	})
	t.Run("no JetStream", func(t *testing.T) {
		bin, err := exec.LookPath("nats-server")
		if err != nil {
			bin = "/usr/sbin/nats-server"
		}
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("nats-server is not installed (CI=true, so this fails; run scripts/services up): %v", err)
			}
			t.Skip("nats-server is not installed (run scripts/services up)")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", port) // no -js
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
		old := noJetStreamPatience
		noJetStreamPatience = time.Second
		defer func() { noJetStreamPatience = old }()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var lg *Log
		for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if lg, err = Dial(ctx, "nats://127.0.0.1:"+port+"/"+ns, nil); err == nil || time.Now().After(end) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		defer lg.Close()
		_, _, err = lg.partitions("s")
		want := `waiting for the JetStream stream "` + ns + `_s" at nats://127.0.0.1:` + port + `: no JetStream answered for`
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nats-server -js") {
			t.Fatalf("want an error naming what it waited for and that JetStream does not answer (%s), got %v", want, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("given up by the patience for JetStream, not the test's deadline: %v", err)
		}
	})
}

// TestStatusWhileServerSlow: etlq status (and status --drop, which
// refuses while workers are live) reads the group's live workers and
// partition owners while the server answers nothing within the client's
// 5 s for 8 s: it waits and shows them. Before, the stream's lookup failed
// with `context deadline exceeded`, and a lease bucket whose lookup timed
// out was read as empty — no live worker, so --drop deleted the stream
// under them.
func TestStatusWhileServerSlow(t *testing.T) {
	host := strings.TrimPrefix(testenv.NATSURL(t), "nats://")
	px := testenv.NewCutProxy(t, host)
	ns := testenv.UniqueName(t)
	direct, err := Open(testenv.NATSURL(t) + "/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	defer direct.DeleteSource("s")
	if _, err := direct.ensureStream("s", 2, Retention{}); err != nil {
		t.Fatal(err)
	}
	kv, err := direct.leaseBucket(direct.names("s"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"apply.w.w1": `{"at":"2026-12-07T00:00:00Z"}`, "apply.p.0": "w1", "apply.p.1": "w1"} {
		if _, err := kv.Put(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	lg, err := Open("nats://" + px.Addr() + "/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	px.Slow(6 * time.Second)
	time.AfterFunc(8*time.Second, func() { px.Slow(0) })
	start := time.Now()
	st, err := lg.Status("s", "apply")
	if err != nil {
		t.Fatalf("status while the server is slow: %v (after %s)", err, time.Since(start).Round(time.Millisecond))
	}
	if len(st.Workers) != 1 || st.Workers[0] != "w1" || len(st.Partitions) != 2 || st.Partitions[0].Owner != "w1" || st.Partitions[1].Owner != "w1" {
		t.Errorf("status while the server is slow: want worker w1 holding both partitions, got %+v", st)
	}
	t.Logf("status after %s:\n%s", time.Since(start).Round(time.Millisecond), st)
}
