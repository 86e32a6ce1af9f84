package mysql

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"

	"github.com/etlq/etlq/connectors"
)

// sessionStatus returns a counter of c's own session.
func sessionStatus(t *testing.T, c *client.Conn, name string) int {
	t.Helper()
	r, err := c.Execute("SHOW SESSION STATUS LIKE " + quoteString(name))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.GetString(0, 1)
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %q", name, v)
	}
	return n
}

// TestSnapshotDirectExecute reads result sets with selectDirect (the close
// of the last statement, the prepare and the execute of statement
// 0xffffffff in one write) on both test servers, without
// CLIENT_DEPRECATE_EOF and over TLS: every row arrives (a 100 KiB and a 17
// MiB one among them) in one round trip; the statement it prepared is
// closed by the next call and not before; a prepare the server refuses
// (no such table) comes back as the server's error, for the text
// protocol's retry, with the execute's answer read; an execute that fails
// before any row, an error after rows, a KILL QUERY while rows are sent
// and a callback's error reach the caller; and go-mysql can use the
// connection after each.
func TestSnapshotDirectExecute(t *testing.T) {
	for _, cc := range resultConns(t) {
		t.Run(cc.name, func(t *testing.T) {
			db := uniqueDB(t, cc.srv)
			fillResultTable(t, cc.srv, db)
			c := cc.dial(t)
			defer c.Close()
			cols := func(defs [][]byte) error {
				if len(defs) != 2 {
					return fmt.Errorf("%d columns", len(defs))
				}
				return nil
			}
			var open uint32
			// direct runs q, closing the statement the last call left
			// open, and checks what the server counted.
			direct := func(q string, columns func([][]byte) error, row func([]byte) error) error {
				t.Helper()
				p0, x0, c0 := sessionStatus(t, c, "Com_stmt_prepare"), sessionStatus(t, c, "Com_stmt_execute"), sessionStatus(t, c, "Com_stmt_close")
				id, err := selectDirect(c, open, q, columns, row)
				if lostConn(err) {
					t.Fatalf("%s: the connection: %v", q, err)
				}
				p1, x1, c1 := sessionStatus(t, c, "Com_stmt_prepare"), sessionStatus(t, c, "Com_stmt_execute"), sessionStatus(t, c, "Com_stmt_close")
				closed := 0
				if open != 0 {
					closed = 1
				}
				executed := 1
				if id == 0 {
					executed = 0 // (the execute of no statement is not counted)
				}
				if p1-p0 != 1 || x1-x0 != executed || c1-c0 != closed {
					t.Fatalf("%s: the server counted %d prepares, %d executes, %d closes; want 1, %d, %d", q, p1-p0, x1-x0, c1-c0, executed, closed)
				}
				if open != 0 {
					// The statement closed is gone.
					err := queryResult(c, executePacket(open), cols, func([]byte) error { return nil })
					if !unknownStmt(err) {
						t.Fatalf("statement %d executed after its close: %v", open, err)
					}
				}
				open = id
				return err
			}
			q := "SELECT id, v FROM " + db + ".t ORDER BY id"
			for round := range 2 { // (the second closes the first's statement)
				n := 0
				err := direct(q, cols, func(p []byte) error {
					id, err := checkResultRow(p, true)
					if err == nil && id != n+1 {
						err = fmt.Errorf("row %d after %d", id, n)
					}
					n++
					return err
				})
				if err != nil || n != resultRows || open == 0 {
					t.Fatalf("round %d: %d rows (statement %d), %v", round, n, open, err)
				}
				stillInSync(t, c)
			}
			// The statement left open still runs: it was not closed early.
			n := 0
			if err := queryResult(c, executePacket(open), cols, func([]byte) error { n++; return nil }); err != nil || n != resultRows {
				t.Fatalf("the statement left open: %d rows, %v", n, err)
			}
			// No rows.
			n = 0
			if err := direct(q+" LIMIT 0", cols, func([]byte) error { n++; return nil }); err != nil || n != 0 {
				t.Fatalf("no rows: %d rows, %v", n, err)
			}
			stillInSync(t, c)
			// A prepare the server refuses: its error, for the text
			// protocol (errBinaryType), no statement to close.
			var me *gm.MyError
			err := direct("SELECT id, v FROM "+db+".missing", cols, func([]byte) error { return errors.New("a row") })
			if !errors.Is(err, errBinaryType) || open != 0 || !strings.Contains(err.Error(), fmt.Sprintf("ERROR %d ", gm.ER_NO_SUCH_TABLE)) {
				t.Fatalf("missing table: statement %d, %v", open, err)
			}
			stillInSync(t, c)
			// The prepare succeeds, the execute fails at its first row.
			n = 0
			first := fmt.Sprintf("SELECT id, IF(id = 1, (SELECT v FROM %s.t UNION ALL SELECT 'y'), v) FROM %s.t ORDER BY id", db, db)
			err = direct(first, cols, func([]byte) error { n++; return nil })
			if !errors.As(err, &me) || me.Code != gm.ER_SUBQUERY_NO_1_ROW || n != 0 || open == 0 {
				t.Fatalf("execute error: %d rows (statement %d), %v", n, open, err)
			}
			stillInSync(t, c)
			// An error after rows were sent (past the 17 MiB row).
			n = 0
			bad := fmt.Sprintf("SELECT id, IF(id = %d, (SELECT v FROM %s.t UNION ALL SELECT 'y'), v) FROM %s.t ORDER BY id", resultMid+2, db, db)
			err = direct(bad, cols, func([]byte) error { n++; return nil })
			if !errors.As(err, &me) || me.Code != gm.ER_SUBQUERY_NO_1_ROW || n != resultMid+1 {
				t.Fatalf("error mid-result: %d rows, %v", n, err)
			}
			stillInSync(t, c)
			// The column callback's error and a row callback's: the rest
			// is read, that error returned.
			stop := errors.New("stop")
			n = 0
			if err := direct(q, func([][]byte) error { return stop }, func([]byte) error { n++; return nil }); err != stop || n != 0 {
				t.Fatalf("columns error: %d rows, %v", n, err)
			}
			stillInSync(t, c)
			n = 0
			if err := direct(q, cols, func([]byte) error { n++; return stop }); err != stop || n != 1 {
				t.Fatalf("row error: %d rows, %v", n, err)
			}
			stillInSync(t, c)
			// KILL QUERY while the server sends rows (slowly).
			n = 0
			slow := "SELECT id, v FROM " + db + ".t WHERE id <= 1000 AND SLEEP(0.005) = 0 ORDER BY id"
			err = direct(slow, cols, func([]byte) error {
				if n++; n == 10 {
					run(t, cc.srv, fmt.Sprintf("KILL QUERY %d", c.GetConnectionID()))
				}
				return nil
			})
			if !errors.As(err, &me) || me.Code != gm.ER_QUERY_INTERRUPTED || n >= 1000 {
				t.Fatalf("killed query: %d rows, %v", n, err)
			}
			stillInSync(t, c)
			// KILL (the connection) while rows are sent: a lost
			// connection (or MariaDB's ER_CONNECTION_KILLED, 1927), as the
			// snapshot's retry expects.
			n = 0
			_, err = selectDirect(c, open, slow, cols, func([]byte) error {
				if n++; n == 10 {
					run(t, cc.srv, fmt.Sprintf("KILL %d", c.GetConnectionID()))
				}
				return nil
			})
			if !lostConn(err) && !(errors.As(err, &me) && me.Code == 1927) || n >= 1000 {
				t.Fatalf("killed connection: %d rows, %v", n, err)
			}
		})
	}
}

// fakeHandler is a server (go-mysql's) that prepares any statement as two
// columns and answers its execute with rows (id BIGINT, v string) — and,
// as MySQL does, the execute of statement 0xffffffff with
// ER_UNKNOWN_STMT_HANDLER.
type fakeHandler struct {
	gmserver.EmptyHandler
	mu                        sync.Mutex
	prepares, executes, close int
}

func (h *fakeHandler) HandleStmtPrepare(string) (int, int, any, error) {
	h.mu.Lock()
	h.prepares++
	h.mu.Unlock()
	return 0, 2, nil, nil
}

func (h *fakeHandler) HandleStmtExecute(any, string, []any) (*gm.Result, error) {
	h.mu.Lock()
	h.executes++
	h.mu.Unlock()
	rs, err := gm.BuildSimpleBinaryResultset([]string{"id", "v"}, [][]any{{int64(1), "a"}, {int64(2), "b"}, {int64(3), "c"}})
	if err != nil {
		return nil, err
	}
	return gm.NewResult(rs), nil
}

func (h *fakeHandler) HandleStmtClose(any) error {
	h.mu.Lock()
	h.close++
	h.mu.Unlock()
	return nil
}

// HandleQuery answers stillInSync's SELECT 42.
func (h *fakeHandler) HandleQuery(string) (*gm.Result, error) {
	rs, err := gm.BuildSimpleTextResultset([]string{"42"}, [][]any{{int64(42)}})
	if err != nil {
		return nil, err
	}
	return gm.NewResult(rs), nil
}

// TestSnapshotDirectRefused: a server taken for MariaDB that does not
// execute statement 0xffffffff (here a fake one answering as MySQL does)
// has the chunk read in three round trips, the rows all there, the
// statement the refused write prepared closed, and the snapshot's later
// chunks read that way without trying again.
func TestSnapshotDirectRefused(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".t (id BIGINT PRIMARY KEY, v VARCHAR(10))")
	mc := conn(t, s)
	tbl, err := readTable(mc, connectors.TableRef{DB: db, Table: "t"})
	mc.Close()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := &fakeHandler{}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				sc, err := gmserver.NewConn(nc, "root", "", h)
				if err != nil {
					return
				}
				for sc.HandleCommand() == nil {
				}
			}()
		}
	}()
	c, err := client.Connect(ln.Addr().String(), "root", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sn := &snapshotter{cfg: &streamConfig{flavor: "mariadb", log: slog.New(slog.DiscardHandler)}, stmtOpen: map[*client.Conn]uint32{}}
	for chunk := range 2 {
		rr := newRowReader(tbl, nil)
		rr.reserve(8, 1<<20)
		if err := sn.selectBinary(c, "SELECT id, v FROM "+db+".t", rr, rr.binRow); err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		rec := rr.record()
		if rec.NumRows() != 3 || !sn.noDirect {
			t.Fatalf("chunk %d: %d rows, direct execution refused: %v", chunk, rec.NumRows(), sn.noDirect)
		}
		rec.Release()
	}
	stillInSync(t, c)
	h.mu.Lock()
	defer h.mu.Unlock()
	// The first chunk: the refused write's prepare, then go-mysql's
	// prepare, execute and close; the second: the latter three.
	if h.prepares != 3 || h.executes != 2 || h.close != 3 || len(sn.stmtOpen) != 0 {
		t.Fatalf("the server had %d prepares, %d executes, %d closes (want 3, 2, 3); %d statements left open", h.prepares, h.executes, h.close, len(sn.stmtOpen))
	}
}
