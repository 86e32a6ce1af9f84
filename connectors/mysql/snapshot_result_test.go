package mysql

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// resultRows is what the test table holds: small rows, then one of 100
// KiB (larger than the reader's buffer) and one of 17 MiB (sent in two
// packets), then small rows again.
const (
	resultSmall = 3000
	resultMid   = 1500 // the id of the 100 KiB row; resultMid+1: 17 MiB
	resultRows  = resultSmall + 2
)

func resultValueLen(id int) int {
	switch id {
	case resultMid:
		return 100 << 10
	case resultMid + 1:
		return 17 << 20
	}
	return 100
}

// fillResultTable creates db.t with resultRows rows: id, and v of
// resultValueLen(id) bytes of one letter.
func fillResultTable(t *testing.T, s server, db string) {
	t.Helper()
	run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v LONGBLOB)",
		"INSERT INTO "+db+".t SELECT seq, REPEAT('x', 100) FROM "+db+".seq_1_to_"+strconv.Itoa(resultRows),
		fmt.Sprintf("UPDATE %s.t SET v = REPEAT('b', %d) WHERE id = %d", db, resultValueLen(resultMid), resultMid),
		fmt.Sprintf("UPDATE %s.t SET v = REPEAT('c', %d) WHERE id = %d", db, resultValueLen(resultMid+1), resultMid+1))
}

// checkResultRow checks one row (id, v) of the text or binary protocol
// against fillResultTable's and returns its id.
func checkResultRow(p []byte, binaryRow bool) (int, error) {
	var id int
	pos := 0
	if binaryRow {
		if len(p) < 2+4 || p[0] != 0 || p[1] != 0 {
			return 0, fmt.Errorf("binary row header % x", p[:min(len(p), 2)])
		}
		id = int(int32(binary.LittleEndian.Uint32(p[2:])))
		pos = 6
	} else {
		v, next := lenencBytes(p, 0)
		if next < 0 {
			return 0, fmt.Errorf("malformed id")
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return 0, err
		}
		id, pos = n, next
	}
	v, next := lenencBytes(p, pos)
	if next != len(p) {
		return id, fmt.Errorf("row %d: malformed v (%d of %d bytes)", id, next, len(p))
	}
	letter := byte('x')
	switch id {
	case resultMid:
		letter = 'b'
	case resultMid + 1:
		letter = 'c'
	}
	if len(v) != resultValueLen(id) || bytes.Count(v, []byte{letter}) != len(v) {
		return id, fmt.Errorf("row %d: %d bytes (want %d of %q)", id, len(v), resultValueLen(id), letter)
	}
	return id, nil
}

// resultConns returns the connections the result reader is tested on:
// both test servers, one of them without CLIENT_DEPRECATE_EOF (an EOF
// packet after the column definitions, another ending the rows), and the
// TLS server through Source.connect (the reader must read the TLS
// connection).
func resultConns(t *testing.T) []struct {
	name string
	srv  server
	dial func(t *testing.T) *client.Conn
} {
	type entry = struct {
		name string
		srv  server
		dial func(t *testing.T) *client.Conn
	}
	var out []entry
	for _, s := range servers(t) {
		out = append(out, entry{s.name, s, func(t *testing.T) *client.Conn {
			c := conn(t, s)
			if !strings.Contains(c.CapabilityString(), "CLIENT_DEPRECATE_EOF") {
				t.Fatalf("%s: no CLIENT_DEPRECATE_EOF (%s)", s.name, c.CapabilityString())
			}
			return c
		}})
	}
	s := servers(t)[0]
	out = append(out, entry{"eof packets", s, func(t *testing.T) *client.Conn {
		cfg, err := ParseDSN(s.dsn)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.ConnectWithTimeout(cfg.Addr(), cfg.User, cfg.Password, "", 5*time.Second, func(c *client.Conn) error {
			c.UnsetCapability(gm.CLIENT_DEPRECATE_EOF)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(c.CapabilityString(), "CLIENT_DEPRECATE_EOF") {
			t.Fatalf("CLIENT_DEPRECATE_EOF still negotiated")
		}
		return c
	}})
	ts := newTLSServer(t)
	out = append(out, entry{"tls", ts.root, func(t *testing.T) *client.Conn {
		src, err := NewSource("tls", ts.dsn(ts.ssl, "localhost"), map[string]any{"ssl_mode": "required"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := src.connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
		if err != nil {
			t.Fatal(err)
		}
		if cipher, _ := r.GetString(0, 1); cipher == "" {
			t.Fatal("the TLS connection is not encrypted")
		}
		return c
	}})
	return out
}

// stillInSync checks that go-mysql can use c after a result etlq read.
func stillInSync(t *testing.T, c *client.Conn) {
	t.Helper()
	r, err := c.Execute("SELECT 42")
	if err != nil {
		t.Fatalf("the connection after the result: %v", err)
	}
	if v, _ := r.GetInt(0, 0); v != 42 {
		t.Fatalf("SELECT 42 after the result read %d", v)
	}
}

// TestSnapshotResultPackets reads result sets with etlq's packet reader
// (queryResult) in the text and binary protocols, on plain and TLS
// connections, with and without CLIENT_DEPRECATE_EOF: rows larger than the
// read buffer and than one packet (16 MiB) arrive whole, an empty result
// ends, an ERR packet after rows (a subquery's error; a KILL QUERY) reaches
// the caller as the server's error, and go-mysql can use the connection
// after each.
func TestSnapshotResultPackets(t *testing.T) {
	for _, cc := range resultConns(t) {
		t.Run(cc.name, func(t *testing.T) {
			db := uniqueDB(t, cc.srv)
			fillResultTable(t, cc.srv, db)
			c := cc.dial(t)
			defer c.Close()
			q := "SELECT id, v FROM " + db + ".t ORDER BY id"
			for _, binaryRow := range []bool{false, true} {
				name := map[bool]string{false: "text", true: "binary"}[binaryRow]
				exec := func(q string, ncols int, row func([]byte) error) error {
					if !binaryRow {
						return selectRaw(c, q, ncols, row)
					}
					st, err := c.Prepare(q)
					if err != nil {
						t.Fatal(err)
					}
					defer st.Close()
					return queryResult(c, executePacket(st.ID), func(defs [][]byte) error {
						if len(defs) != ncols {
							return fmt.Errorf("%d columns", len(defs))
						}
						return nil
					}, row)
				}
				// Every row, whole and in order.
				n := 0
				err := exec(q, 2, func(p []byte) error {
					id, err := checkResultRow(p, binaryRow)
					if err == nil && id != n+1 {
						err = fmt.Errorf("row %d after %d", id, n)
					}
					n++
					return err
				})
				if err != nil || n != resultRows {
					t.Fatalf("%s: %d rows, %v", name, n, err)
				}
				stillInSync(t, c)
				// No rows.
				n = 0
				if err := exec(q+" LIMIT 0", 2, func([]byte) error { n++; return nil }); err != nil || n != 0 {
					t.Fatalf("%s, no rows: %d rows, %v", name, n, err)
				}
				stillInSync(t, c)
				// A row callback's error: the rest is read, that error returned.
				stop := errors.New("stop")
				n = 0
				if err := exec(q, 2, func([]byte) error { n++; return stop }); err != stop || n != 1 {
					t.Fatalf("%s, callback error: %d rows, %v", name, n, err)
				}
				stillInSync(t, c)
				// An error after rows were sent: the subquery fails at the
				// row after the 17 MiB one, well after rows went out.
				n = 0
				bad := fmt.Sprintf("SELECT id, IF(id = %d, (SELECT v FROM %s.t UNION ALL SELECT 'y'), v) FROM %s.t ORDER BY id",
					resultMid+2, db, db)
				err = exec(bad, 2, func([]byte) error { n++; return nil })
				var me *gm.MyError
				if !errors.As(err, &me) || me.Code != gm.ER_SUBQUERY_NO_1_ROW || n != resultMid+1 {
					t.Fatalf("%s, error mid-result: %d rows, %v", name, n, err)
				}
				stillInSync(t, c)
				// KILL QUERY while the server sends rows (slowly: it
				// could otherwise have sent them all, 17 MiB included,
				// into the socket's buffers before the kill).
				n = 0
				slow := "SELECT id, v FROM " + db + ".t WHERE id <= 1000 AND SLEEP(0.005) = 0 ORDER BY id"
				err = exec(slow, 2, func([]byte) error {
					if n++; n == 10 {
						run(t, cc.srv, fmt.Sprintf("KILL QUERY %d", c.GetConnectionID()))
					}
					return nil
				})
				if !errors.As(err, &me) || me.Code != gm.ER_QUERY_INTERRUPTED || n >= 1000 {
					t.Fatalf("%s, killed query: %d rows, %v", name, n, err)
				}
				stillInSync(t, c)
			}
			// A statement without a result set.
			if err := selectRaw(c, "DO 1", 1, func([]byte) error { return nil }); !errors.Is(err, errNoResultSet) {
				t.Fatalf("DO 1: %v", err)
			}
			stillInSync(t, c)
		})
	}
}

// BenchmarkSnapshotResultRead reads the same rows with a prepared
// statement, as a snapshot chunk is read, once as the source read them
// before (go-mysql's result reading, its ReadPacketTo into a buffer of
// etlq's: readRowsGoMySQL) and once with queryResult, alternating in each
// iteration; the rows are only counted. narrow: 200,000 rows of the
// snapshot benchmarks' shape (~80 bytes); wide: 20,000 rows of 300
// columns (100 each of INT, VARCHAR and DECIMAL; ~2.5 KB). It reports
// each one's CPU (this process: user + system) and bytes allocated per
// million rows.
func BenchmarkSnapshotResultRead(b *testing.B) {
	s := server{"full", envOr("ETLQ_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3316")}
	const db = "bench_snapshot_result"
	run(b, s, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db)
	defer run(b, s, "DROP DATABASE "+db)
	c := conn(b, s)
	defer c.Close()
	exec := func(q string) {
		if _, err := c.Execute(q); err != nil {
			b.Fatal(err)
		}
	}
	exec("SET SESSION sql_log_bin = 0")
	exec(`CREATE TABLE ` + db + `.narrow (id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(64) NOT NULL, email VARCHAR(128) NULL,
		amount DECIMAL(12,2) NOT NULL, created_at DATETIME(6) NOT NULL, qty INT NOT NULL,
		status ENUM('new','paid','shipped','cancelled') NOT NULL, score DOUBLE NOT NULL)`)
	exec(fmt.Sprintf(`INSERT INTO %s.narrow SELECT seq, CONCAT('customer-', seq %% 50000),
		IF(seq %% 10 = 0, NULL, CONCAT('user', seq, '@example.com')), (seq * 37 %% 10000000) / 100,
		TIMESTAMPADD(MICROSECOND, seq * 7919123, '2025-01-01 00:00:00'), seq %% 1000,
		ELT(1 + seq %% 4, 'new', 'paid', 'shipped', 'cancelled'), seq / 7 FROM %s.seq_1_to_200000`, db, db))
	var cols, vals []string
	for i := range 100 {
		cols = append(cols, fmt.Sprintf("i%03d INT, s%03d VARCHAR(32) CHARACTER SET latin1, d%03d DECIMAL(12,2)", i, i, i))
		vals = append(vals, fmt.Sprintf("seq * %d, CONCAT('value-', seq, '-', %d), (seq * %d %%%% 1000000) / 100", i+1, i, i+7))
	}
	exec("CREATE TABLE " + db + ".wide (id INT PRIMARY KEY, " + strings.Join(cols, ", ") + ")")
	exec(fmt.Sprintf("INSERT INTO %s.wide SELECT seq, "+strings.Join(vals, ", ")+" FROM %s.seq_1_to_20000", db, db))
	for _, tc := range []struct {
		table string
		n     int
	}{{"narrow", 200000}, {"wide", 20000}} {
		b.Run(tc.table, func(b *testing.B) { resultReadAB(b, c, "SELECT * FROM "+db+"."+tc.table, tc.n) })
	}
}

// resultReadAB is BenchmarkSnapshotResultRead's comparison on q's n rows.
func resultReadAB(b *testing.B, c *client.Conn, q string, n int) {
	var rows, size int
	count := func(p []byte) error { rows++; size += len(p); return nil }
	readers := [2]func(st *client.Stmt) error{
		func(st *client.Stmt) error {
			var res gm.Result
			err := st.ExecuteSelectStreaming(&res, func([]gm.FieldValue) error {
				return fmt.Errorf("row before the column definitions")
			}, func(*gm.Result) error { return errColumnsRead })
			if !errors.Is(err, errColumnsRead) {
				return err
			}
			return readRowsGoMySQL(c, count)
		},
		func(st *client.Stmt) error {
			return queryResult(c, executePacket(st.ID), func([][]byte) error { return nil }, count)
		},
	}
	var cpu, alloc [2]float64
	want := -1
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, read := range readers {
			st, err := c.Prepare(q)
			if err != nil {
				b.Fatal(err)
			}
			rows, size = 0, 0
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			c0 := cpuNow()
			err = read(st)
			cpu[k] += (cpuNow() - c0).Seconds()
			runtime.ReadMemStats(&m1)
			alloc[k] += float64(m1.TotalAlloc - m0.TotalAlloc)
			st.Close()
			if err != nil || rows != n || want >= 0 && size != want {
				b.Fatalf("reader %d: %d rows of %d bytes (want %d of %d): %v", k, rows, size, n, want, err)
			}
			want = size
		}
	}
	m := float64(b.N) * float64(n) / 1e6
	b.ReportMetric(cpu[0]/m, "gomysql_cpu_s/M")
	b.ReportMetric(cpu[1]/m, "own_cpu_s/M")
	b.ReportMetric(alloc[0]/m/(1<<20), "gomysql_MiB/M")
	b.ReportMetric(alloc[1]/m/(1<<20), "own_MiB/M")
}

// errColumnsRead stops go-mysql's result reading after the column
// definitions (BenchmarkSnapshotResultRead's reference reader).
var errColumnsRead = errors.New("columns read")

// readRowsGoMySQL is how the snapshot read rows before queryResult: each
// packet through go-mysql's ReadPacketTo into a buffer of etlq's.
func readRowsGoMySQL(c *client.Conn, row func([]byte) error) error {
	var w packetBuf
	for {
		w.b = w.b[:0]
		if err := c.ReadPacketTo(&w); err != nil {
			return err
		}
		buf := w.b
		switch {
		case len(buf) == 0:
			return gm.ErrMalformPacket
		case buf[0] == gm.EOF_HEADER && len(buf) < 0xffffff:
			return nil
		case buf[0] == gm.ERR_HEADER:
			return c.HandleErrorPacket(buf)
		}
		if err := row(buf); err != nil {
			return err
		}
	}
}

// packetBuf collects one packet.
type packetBuf struct{ b []byte }

func (w *packetBuf) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
