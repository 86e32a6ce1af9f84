package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// privateMu serializes the start of private servers: picking free ports
// and starting the servers on them (see startPrivateServices).
var privateMu sync.Mutex

// privateServices are servers of the test's own, started by
// scripts/services on free ports with their data in a temporary
// directory, so the test may stop and start them while other packages use
// the shared ones.
type privateServices struct {
	env             []string
	MySQLDSN        string // like MariaDB A: binlog_row_metadata=FULL, Europe/Berlin
	MySQLMinimalDSN string // like MariaDB B: binlog_row_metadata default, America/Sao_Paulo
	CHDSN           string
}

// startPrivateServices starts the named servers (mariadb-a, mariadb-b,
// clickhouse) and stops them when the test ends.
func startPrivateServices(t *testing.T, servers ...string) *privateServices {
	t.Helper()
	// One start at a time: the free ports picked below are free until the
	// servers listen on them, and a start is CPU-heavy (2 cores in CI).
	// Once up, the servers are the test's alone — every port, the data
	// and sockets (ETLQ_SCRATCH) its own — so other tests' private servers
	// run beside them. (It used to be held until the test ended: a test
	// waiting for it held one of the -parallel slots idle, TestApply-
	// FailedInsertStopsTheRun 41 s behind TestServerRestarts.)
	privateMu.Lock()
	defer privateMu.Unlock()
	ports := freePorts(t, 4)
	scratch := t.TempDir()
	p := &privateServices{
		env: append(os.Environ(),
			"ETLQ_SCRATCH="+scratch,
			fmt.Sprintf("ETLQ_MYSQL_PORT=%d", ports[0]),
			fmt.Sprintf("ETLQ_MYSQL_MINIMAL_PORT=%d", ports[1]),
			fmt.Sprintf("ETLQ_CLICKHOUSE_PORT=%d", ports[2]),
			fmt.Sprintf("ETLQ_CLICKHOUSE_HTTP_PORT=%d", ports[3]),
		),
		MySQLDSN:        fmt.Sprintf("mysql://root@127.0.0.1:%d", ports[0]),
		MySQLMinimalDSN: fmt.Sprintf("mysql://root@127.0.0.1:%d", ports[1]),
		CHDSN:           fmt.Sprintf("clickhouse://127.0.0.1:%d", ports[2]),
	}
	t.Cleanup(func() { p.kill(t, scratch) })
	start := time.Now()
	p.run(t, append([]string{"up"}, servers...)...)
	t.Logf("private %s up in %v", strings.Join(servers, ", "), time.Since(start).Round(100*time.Millisecond))
	return p
}

// freePorts returns n ports free on 127.0.0.1, below the kernel's
// ephemeral range when it leaves room (ip_local_port_range): a port taken
// from that range (a listener on port 0) may be given to any outgoing
// connection or port-0 listener — other tests' proxies — before the
// server binds it, seconds later, and scripts/services then refuses to
// start ("port … is taken by another process"; seen once ClickHouse's
// port waited for both MariaDBs to start beside other tests).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	lo, hi := 20000, 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if low, err := strconv.Atoi(f[0]); err == nil {
				hi = low
			}
		}
	}
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0" // no room below the ephemeral range
		if hi-lo >= 1000 && tries < 1000 {
			addr = fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // taken: another
			}
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// kill ends the private servers when the test is over: SIGKILL to each
// server whose pid file is in scratch (their data is thrown away with it,
// so there is nothing to shut down cleanly; scripts/services down waited
// seconds for ClickHouse and MariaDB to stop, the test's -parallel slot
// held), then waits until each is gone. A pid is killed only while its
// command line names scratch: a pid file left by a server that stopped
// names no process of ours.
func (p *privateServices) kill(t *testing.T, scratch string) {
	t.Helper()
	for _, f := range []string{"mariadb-a/mariadbd.pid", "mariadb-b/mariadbd.pid", "clickhouse/clickhouse-server.pid"} {
		data, err := os.ReadFile(filepath.Join(scratch, f))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			continue
		}
		ours := func() bool {
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			return err == nil && strings.Contains(string(cmdline), scratch)
		}
		if !ours() {
			continue
		}
		syscall.Kill(pid, syscall.SIGKILL)
		for deadline := time.Now().Add(30 * time.Second); ours(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("private server %s (pid %d) still there 30 s after SIGKILL", f, pid)
				break
			}
		}
	}
}

// run runs scripts/services with the private environment.
func (p *privateServices) run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join("..", "..", "scripts", "services"), args...)
	cmd.Env = p.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/services %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// churn keeps inserting, updating (key changes included) and deleting rows
// of a table until stopped, like writer, but rides out a server restart:
// after an error it reconnects and goes on. A statement cut off by the
// restart may or may not have been applied; the source decides.
type churn struct {
	stop   atomic.Bool
	wg     sync.WaitGroup
	ops    atomic.Int64
	errors atomic.Int64

	mu      sync.Mutex
	journal []churnOp // with churnOptions.journal: every statement
}

// churnOp is a statement a churn ran, when it returned, and its error.
type churnOp struct {
	at  time.Time
	q   string
	err error
}

// touching returns the journal's statements that name key id, as lines.
func (w *churn) touching(id string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, op := range w.journal {
		if strings.Contains(op.q, "id = "+id+" ") || strings.HasSuffix(op.q, "id = "+id) || strings.Contains(op.q, "VALUES ("+id+",") {
			out = append(out, fmt.Sprintf("%s %s (error: %v)", op.at.UTC().Format("15:04:05.000000"), op.q, op.err))
		}
	}
	return out
}

// churnOptions tune a churn: workers connections, a pause after each
// statement, and hot keys: when hot > 0, half of the statements pick one of
// hot keys spread evenly over the key range, so the same keys change again
// and again.
type churnOptions struct {
	workers int
	pause   time.Duration
	hot     int
	journal bool // keep every statement (churn.touching)
}

func startChurn(t *testing.T, dsn, table string, keys int, o churnOptions) *churn {
	t.Helper()
	cfg, err := testenv.ParseMySQLDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	w := &churn{}
	for i := 0; i < max(o.workers, 1); i++ {
		w.wg.Add(1)
		go w.run(cfg, table, keys, o, uint64(i))
	}
	return w
}

func (w *churn) run(cfg testenv.MySQLConfig, table string, keys int, o churnOptions, seed uint64) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(5, seed))
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	key := func() int {
		if o.hot > 0 && rng.IntN(2) == 0 {
			return 1 + rng.IntN(o.hot)*(keys/o.hot)
		}
		return 1 + rng.IntN(keys)
	}
	var c *client.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for !w.stop.Load() {
		if c == nil {
			var err error
			c, err = client.ConnectWithTimeout(cfg.Addr, cfg.User, cfg.Password, "", 2*time.Second)
			if err != nil {
				c = nil
				w.errors.Add(1)
				time.Sleep(200 * time.Millisecond)
				continue
			}
		}
		k := key()
		var q string
		switch r := rng.IntN(10); {
		case r < 3:
			q = fmt.Sprintf("INSERT IGNORE INTO %s VALUES (%d, '%s', %d.%02d)", table, k, statuses[rng.IntN(4)], rng.IntN(10000), rng.IntN(100))
		case r < 7:
			q = fmt.Sprintf("UPDATE %s SET status = '%s', amount = amount + 1 WHERE id = %d", table, statuses[rng.IntN(4)], k)
		case r < 8:
			q = fmt.Sprintf("UPDATE IGNORE %s SET id = %d WHERE id = %d", table, key(), k)
		default:
			q = fmt.Sprintf("DELETE FROM %s WHERE id = %d", table, k)
		}
		_, err := c.Execute(q)
		if o.journal {
			w.mu.Lock()
			w.journal = append(w.journal, churnOp{time.Now(), q, err})
			w.mu.Unlock()
		}
		if err != nil {
			// A restart, or a deadlock between workers: reconnect, go on.
			w.errors.Add(1)
			c.Close()
			c = nil
			time.Sleep(100 * time.Millisecond)
			continue
		}
		w.ops.Add(1)
		if o.pause > 0 {
			time.Sleep(o.pause)
		}
	}
}

func (w *churn) halt() {
	w.stop.Store(true)
	w.wg.Wait()
}

// waitCHCount polls a ClickHouse count query until it returns want, riding
// out connection errors; it fails the test after timeout.
func waitCHCount(t *testing.T, dsn, q string, want uint64, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		n, err := chCount(dsn, q)
		if err == nil && n == want {
			return time.Since(start)
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("count %d", n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not %d after %v (last: %s)", q, want, timeout, last)
	return 0
}

func chCount(dsn, q string) (uint64, error) {
	o, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return 0, err
	}
	o.DialTimeout = 2 * time.Second
	c, err := clickhouse.Open(o)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n uint64
	err = c.QueryRow(ctx, q).Scan(&n)
	return n, err
}
