package natslog

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// storageNATS runs a nats-server -js of the test's own whose JetStream
// storage is maxStore bytes (max_file_store), its store in dir.
func storageNATS(t *testing.T, dir, port string, maxStore int64) func() {
	t.Helper()
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
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%s\njetstream { store_dir: %q, max_file_store: %d, max_memory_store: 1048576 }\n", port, filepath.Join(dir, "store"), maxStore)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			return stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server on %s did not start", port)
		}
	}
}

// TestCaptureStorageFull: a stream made with no size limit (--max-bytes 0)
// grows until the server's JetStream storage (max_file_store) is full; the
// server then refuses every message ("insufficient resources"). The
// capture says what is full and what to do, publishes again until there is
// room, and goes on once the server has more storage: nothing is lost.
// Before, it said only `log unavailable, publishing again … nats:
// insufficient resources`, as for a server away (a scale-out trial).
func TestCaptureStorageFull(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	dir := t.TempDir()
	stop := storageNATS(t, dir, port, 1<<20)
	lg, err := Open("nats://127.0.0.1:" + port + "/full")
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var lines logLines
	src := &endless{}
	errc := make(chan error, 1)
	go func() {
		errc <- lg.Capture(ctx, "s", src, connectors.StreamRequest{}, CaptureOptions{Partitions: 2,
			Log: slog.New(slog.NewTextHandler(&lines, nil))})
	}()
	n := lg.names("s")
	const want = "JetStream storage is full"
	for !strings.Contains(lines.String(), want) {
		select {
		case err := <-errc:
			t.Fatalf("the capture stopped: %v", err)
		case <-ctx.Done():
			t.Fatalf("no warning that the storage is full; the capture logged:\n%s", lines.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !strings.Contains(lines.String(), "max_file_store") {
		t.Errorf("the warning does not say what to give the server:\n%s", lines.String())
	}
	info, err := lg.js.StreamInfo(n.stream)
	if err != nil {
		t.Fatal(err)
	}
	full := info.State.Msgs
	// More storage: the server started again with it, the capture goes on.
	stop()
	storageNATS(t, dir, port, 64<<20)
	for {
		if info, err := lg.js.StreamInfo(n.stream); err == nil && info.State.Msgs > full+100 {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("the capture stopped: %v", err)
		case <-ctx.Done():
			t.Fatalf("the capture did not go on once the server had room (%d messages when full)", full)
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	<-errc
}
