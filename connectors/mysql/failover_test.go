package mysql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	etlexec "github.com/etlq/etlq/exec"
)

// TestSameServer: a checkpoint resumes by file and position only on the
// server it was taken on, or when it recorded no server (older ones).
func TestSameServer(t *testing.T) {
	for _, c := range []struct {
		name    string
		cp, cur serverIdent
		want    bool
	}{
		{"old checkpoint", serverIdent{}, serverIdent{ID: 2}, true},
		{"same server_id", serverIdent{ID: 7}, serverIdent{ID: 7}, true},
		{"other server_id", serverIdent{ID: 1}, serverIdent{ID: 2}, false},
		{"same uuid", serverIdent{ID: 1, UUID: "u1"}, serverIdent{ID: 1, UUID: "u1"}, true},
		{"other uuid, same server_id", serverIdent{ID: 1, UUID: "u1"}, serverIdent{ID: 1, UUID: "u2"}, false},
		{"uuid decides over server_id", serverIdent{ID: 1, UUID: "u1"}, serverIdent{ID: 5, UUID: "u1"}, true},
		{"no uuid here: server_id decides", serverIdent{ID: 1, UUID: "u1"}, serverIdent{ID: 1}, true},
		{"no uuid here, other server_id", serverIdent{ID: 1, UUID: "u1"}, serverIdent{ID: 2}, false},
	} {
		if got := sameServer(c.cp, c.cur); got != c.want {
			t.Errorf("%s: sameServer(%v, %v) = %v, want %v", c.name, c.cp, c.cur, got, c.want)
		}
	}
	// A checkpoint written before identities were recorded decodes with
	// none; a new one keeps them, and leaves them out when unknown.
	old, err := decodeState([]byte(`{"file":"binlog.000003","pos":42,"gtid":"0-1-9","flavor":"mariadb","version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if old.ident().known() {
		t.Errorf("old checkpoint: identity %v, want none", old.ident())
	}
	b, _ := json.Marshal(markState{File: "binlog.000003", Pos: 42, Flavor: "mariadb", ServerID: 3})
	if !bytes.Contains(b, []byte(`"server_id":3`)) || bytes.Contains(b, []byte("server_uuid")) {
		t.Errorf("state JSON %s", b)
	}
	back, _ := decodeState(b)
	if back.ident() != (serverIdent{ID: 3}) {
		t.Errorf("round trip: %v", back.ident())
	}
}

// privateServer starts a MariaDB of the test's own with scripts/services
// (MariaDB A's settings, the given server_id and extra my.cnf lines) on a
// free port, stopped when the test ends. It returns the server and a
// function running scripts/services on it.
func privateServer(t *testing.T, name string, serverID int, extraCnf string) (server, func(args ...string)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env := append(os.Environ(), "ETLQ_SCRATCH="+t.TempDir(), fmt.Sprintf("ETLQ_MYSQL_PORT=%d", port),
		fmt.Sprintf("ETLQ_MYSQL_SERVER_ID=%d", serverID), "ETLQ_MYSQL_EXTRA_CNF="+extraCnf)
	services := func(args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join("..", "..", "scripts", "services"), args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/services %s (%s): %v\n%s", strings.Join(args, " "), name, err, out)
		}
	}
	t.Cleanup(func() { services("down", "mariadb-a") })
	services("up", "mariadb-a")
	return server{name, fmt.Sprintf("mysql://root@127.0.0.1:%d", port)}, services
}

// change is one row change as the stream delivers it.
type change struct{ op, id, v string }

func (c change) String() string { return c.op + " " + c.id + "=" + c.v }

// changeLog runs statements on a server and notes the row changes they
// make, in commit order.
type changeLog struct {
	t    *testing.T
	want []change
}

func (l *changeLog) exec(s server, stmts []string, changes ...change) {
	l.t.Helper()
	run(l.t, s, stmts...)
	l.want = append(l.want, changes...)
}

// writes makes n+3 transactions on table tbl of s for ids from lo: n
// inserts, an update of the first row in GTID domain 5 (the others are in
// domain 0), a delete, and one transaction of three changes.
func (l *changeLog) writes(s server, tbl string, lo, n int) {
	l.t.Helper()
	for i := lo; i < lo+n; i++ {
		l.exec(s, []string{fmt.Sprintf("INSERT INTO %s VALUES (%d, %d)", tbl, i, i)}, change{"insert", fmt.Sprint(i), fmt.Sprint(i)})
		if i == lo {
			l.exec(s, []string{"SET SESSION gtid_domain_id = 5", fmt.Sprintf("UPDATE %s SET v = %d WHERE id = %d", tbl, -lo, lo)}, change{"update", fmt.Sprint(lo), fmt.Sprint(-lo)})
		}
	}
	l.exec(s, []string{fmt.Sprintf("DELETE FROM %s WHERE id = %d", tbl, lo+1)}, change{"delete", fmt.Sprint(lo + 1), fmt.Sprint(lo + 1)})
	l.exec(s, []string{"BEGIN",
		fmt.Sprintf("INSERT INTO %s VALUES (%d, 1)", tbl, lo+n),
		fmt.Sprintf("UPDATE %s SET v = 2 WHERE id = %d", tbl, lo+n),
		fmt.Sprintf("DELETE FROM %s WHERE id = %d", tbl, lo+2),
		"COMMIT"},
		change{"insert", fmt.Sprint(lo + n), "1"}, change{"update", fmt.Sprint(lo + n), "2"}, change{"delete", fmt.Sprint(lo + 2), fmt.Sprint(lo + 2)})
}

func changesOf(rows []row) []change {
	out := make([]change, 0, len(rows))
	for _, r := range rows {
		out = append(out, change{r["_op"], r["id"], r["v"]})
	}
	return out
}

func sameChanges(t *testing.T, what string, got, want []change) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %d changes %v\nwant %d changes %v", what, len(got), got, len(want), want)
	}
}

// logCapture collects what the stream logs while a test runs.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func captureLog(t *testing.T) *logCapture {
	l := &logCapture{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(l, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return l
}

// editState returns a checkpoint's JSON with fields set (nil deletes).
func editState(t *testing.T, state []byte, set map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(state, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeOnReplicaAfterFailover: a checkpoint taken on primary P
// resumes on its replica R, whose binlog holds the same transactions at
// other files and offsets (R wrote transactions of its own first, in
// another GTID domain, and rotated its binlog). The stream finds the
// checkpoint's GTID in R's binlog and delivers every change after the
// checkpoint exactly once and in order: the rest of what it had not read on
// P, what P wrote after, and what R writes once promoted. P writes in two
// GTID domains, so the checkpoint's GTID set has one of each. A checkpoint
// without a GTID, or whose GTID R does not have, fails with an error naming
// both servers and the way out; with snapshot_on_purge = true it takes a
// new snapshot.
func TestResumeOnReplicaAfterFailover(t *testing.T) {
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	p, stopP := privateServer(t, "primary", 1, "")
	r, _ := privateServer(t, "replica", 2, "log_slave_updates = ON")

	// R's own transactions, in GTID domain 1, and a new binlog file: P's
	// file names and offsets mean other places in R's binlog.
	run(t, r, "SET SESSION gtid_domain_id = 1",
		"CREATE DATABASE r_own", "CREATE TABLE r_own.t (id INT PRIMARY KEY, pad VARCHAR(200))",
		"INSERT INTO r_own.t VALUES (1, REPEAT('r', 200)), (2, REPEAT('r', 200)), (3, REPEAT('r', 200))",
		"FLUSH BINARY LOGS")
	run(t, r, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %d, MASTER_USER = 'root', MASTER_USE_GTID = slave_pos", atoi(p.dsn[strings.LastIndexByte(p.dsn, ':')+1:])),
		"START SLAVE")

	const db, tbl = "failover", "failover.t"
	run(t, p, "CREATE DATABASE "+db, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO "+tbl+" VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)")
	ref := connectors.TableRef{DB: db, Table: "t"}
	log := &changeLog{t: t}
	ctx := context.Background()

	// On P: the snapshot, then part of the changes that follow it.
	srcP := newSrc(t, p, nil)
	st, err := srcP.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}})
	if err != nil {
		t.Fatal(err)
	}
	var read []row
	var mark *etlexec.Mark
	marked := 0 // rows up to the mark
	func() {
		defer st.Close()
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for {
			b, err := st.Next(rctx)
			if err != nil {
				t.Fatalf("reading on P: %v after %d rows", err, len(read))
			}
			read = append(read, batchRows(b)...)
			if b.Mark != nil {
				mark, marked = b.Mark, len(read)
			}
			b.Release()
			if len(read) == 5 && len(log.want) == 0 {
				// The snapshot is read; now the changes.
				log.writes(p, tbl, 10, 8) // 8 inserts, an update, a delete, a transaction of 3
			}
			if mark != nil && marked >= 5+6 {
				return
			}
		}
	}()
	snap, before := read[:5], changesOf(read[5:marked])
	for i, rw := range snap {
		if rw["_op"] != "read" || rw["id"] != fmt.Sprint(i+1) {
			t.Fatalf("snapshot row %d: %v", i, rw)
		}
	}
	sameChanges(t, "changes read on P before the checkpoint", before, log.want[:len(before)])
	cp, err := decodeState(mark.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if cp.ServerID != 1 || !strings.HasPrefix(cp.GTID, "0-1-") || !strings.Contains(cp.GTID, ",5-1-") {
		t.Fatalf("checkpoint on P: server_id %d, gtid %q; want server_id 1 and GTIDs of domains 0 and 5", cp.ServerID, cp.GTID)
	}

	// More on P; R catches up; P goes and R is promoted.
	log.writes(p, tbl, 30, 5)
	pc := conn(t, p)
	res, err := pc.Execute("SELECT @@GLOBAL.gtid_binlog_pos")
	if err != nil {
		t.Fatal(err)
	}
	pGTID, _ := res.GetString(0, 0)
	pc.Close()
	rc := conn(t, r)
	defer rc.Close()
	if res, err = rc.Execute("SELECT MASTER_GTID_WAIT(" + quoteString(pGTID) + ", 30)"); err != nil {
		t.Fatal(err)
	}
	if w, _ := res.GetInt(0, 0); w != 0 {
		t.Fatalf("replica did not reach P's %s in 30 s", pGTID)
	}
	stopP("down", "mariadb-a")
	run(t, r, "STOP SLAVE", "RESET SLAVE ALL")
	log.writes(r, tbl, 50, 3)

	t.Run("by_gtid", func(t *testing.T) {
		logs := captureLog(t)
		srcR := newSrc(t, r, nil)
		// etlq check places it as apply does (CheckpointPlace).
		if err := srcR.CheckpointPlace(ctx, mark.Bytes()); err != nil {
			t.Errorf("CheckpointPlace of a checkpoint R can resume: %v", err)
		}
		st, err := srcR.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}, Resume: mark.Bytes(), Once: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		startR := st.(*stream).bin.startPos
		rows, last := drain(t, st, 20*time.Second, nil)
		sameChanges(t, "changes resumed on R", changesOf(rows), log.want[len(before):])
		t.Logf("checkpoint on P at %s:%d, gtid %s; R started at %s; log:\n%s", cp.File, cp.Pos, cp.GTID, startR, logs)
		if l := logs.String(); !strings.Contains(l, "resuming by GTID on another server") ||
			!strings.Contains(l, "checkpoint_server_id=1 server_id=2") {
			t.Errorf("no warning naming both servers; log:\n%s", l)
		}
		if startR == (binlogPos{File: cp.File, Pos: cp.Pos}) {
			t.Errorf("R started at the checkpoint's file and position %v: the test does not tell GTID from file:pos", startR)
		}
		if last == nil {
			t.Fatal("no mark on R")
		}
		if s, _ := decodeState(last.Bytes()); s.ServerID != 2 {
			t.Errorf("mark on R: server_id %d, want 2", s.ServerID)
		}
	})

	wantOther := ") was taken on another server (server_id 1), not on this one (server_id 2 at 127.0.0.1:"
	for _, c := range []struct {
		name string
		set  map[string]any
		want []string
	}{
		{"no_gtid", map[string]any{"gtid": nil}, []string{wantOther, "no GTID", "on_binlog_gap = 'resnapshot'", "empty state directory"}},
		// R's newest transaction of domain 0 is its own: not a replica behind.
		{"gtid_ahead_of_promoted", map[string]any{"gtid": "0-1-100000"}, []string{wantOther, "GTID 0-1-100000 is not in the server's binary logs yet", "this server wrote 0-2-", "itself, so it is no replica that will get 0-1-100000", "on_binlog_gap = 'resnapshot'"}},
		// (as a replica of server 2 that has not caught up)
		{"gtid_ahead", map[string]any{"gtid": "0-2-100000"}, []string{wantOther, "GTID 0-2-100000 is not in the server's binary logs yet", "has not replicated it yet", "on_binlog_gap = 'resnapshot'"}},
		{"mysql", map[string]any{"flavor": "mysql"}, []string{wantOther, "MySQL GTID on another server is not supported yet", "on_binlog_gap = 'resnapshot'"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := editState(t, mark.Bytes(), c.set)
			// etlq check refuses it as apply does (it said ok: failover
			// trial).
			if err := newSrc(t, r, nil).CheckpointPlace(ctx, state); !errors.Is(err, connectors.ErrPositionLost) {
				t.Errorf("CheckpointPlace: %v, want a lost position", err)
			}
			_, err := newSrc(t, r, nil).Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}, Resume: state, Once: true})
			if err == nil {
				t.Fatal("opened")
			}
			t.Logf("%v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}

	t.Run("no_gtid_snapshot_on_purge", func(t *testing.T) {
		state := editState(t, mark.Bytes(), map[string]any{"gtid": nil})
		st, err := newSrc(t, r, map[string]any{"snapshot_on_purge": true}).Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}, Resume: state, Once: true})
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := drain(t, st, 20*time.Second, nil)
		st.Close()
		// First a truncate (gap.go), then the new snapshot.
		if len(rows) == 0 || rows[0]["_op"] != "truncate" {
			t.Fatalf("new snapshot on R: no truncate first: %v", rows)
		}
		rows = rows[1:]
		sort.Slice(rows, func(i, j int) bool { return atoi(rows[i]["id"]) < atoi(rows[j]["id"]) })
		got := changesOf(rows)
		var want []change
		c := conn(t, r)
		defer c.Close()
		res, err := c.Execute("SELECT id, v FROM " + tbl + " ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < res.RowNumber(); i++ {
			id, _ := res.GetInt(i, 0)
			v, _ := res.GetInt(i, 1)
			want = append(want, change{"read", fmt.Sprint(id), fmt.Sprint(v)})
		}
		sameChanges(t, "new snapshot on R", got, want)
	})
}

// TestResumeOnDivergedServer: a checkpoint of another server whose GTID's
// sequence number is, in this server's binlog, another server's
// transaction — a replica promoted before it had replicated all etlq read
// on the old primary, then written to: the old primary's 0-1-63 and the
// new one's 0-2-63 are different transactions. Resuming after 0-2-63 would
// skip the new primary's transactions before it, silently; the open fails
// instead, saying the histories diverged. The same checkpoint naming this
// server's transactions resumes by GTID.
func TestResumeOnDivergedServer(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			tbl := quoteIdent(db) + ".t"
			run(t, s, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO "+tbl+" VALUES (1, 1), (2, 2), (3, 3)")
			ref := connectors.TableRef{DB: db, Table: "t"}
			req := connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}, Once: true}
			ctx := context.Background()
			st, err := newSrc(t, s, nil).Open(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			_, mark := drain(t, st, 20*time.Second, nil)
			st.Close()
			if mark == nil {
				t.Fatal("no mark")
			}
			cp, err := decodeState(mark.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if cp.GTID == "" || cp.ServerID == 0 {
				t.Fatalf("checkpoint without GTID or server: %+v", cp)
			}
			const oldPrimary = 4242 // the server the checkpoint was taken on
			var theirs []string
			for _, g := range strings.Split(cp.GTID, ",") {
				p := strings.Split(g, "-")
				theirs = append(theirs, fmt.Sprintf("%s-%d-%s", p[0], oldPrimary, p[2]))
			}
			run(t, s, "INSERT INTO "+tbl+" VALUES (4, 4)")

			// The same GTIDs, this server's transactions: resumed by GTID.
			req.Resume = editState(t, mark.Bytes(), map[string]any{"server_id": oldPrimary})
			st, err = newSrc(t, s, nil).Open(ctx, req)
			if err != nil {
				t.Fatalf("checkpoint of another server with this server's GTIDs %s: %v", cp.GTID, err)
			}
			rows, _ := drain(t, st, 20*time.Second, nil)
			st.Close()
			if got := changesOf(rows); fmt.Sprint(got) != fmt.Sprint([]change{{"insert", "4", "4"}}) {
				t.Errorf("resumed by GTID %s: %v, want the insert of 4", cp.GTID, got)
			}

			// Their GTIDs: the sequence numbers are this server's other transactions.
			req.Resume = editState(t, mark.Bytes(), map[string]any{"server_id": oldPrimary, "gtid": strings.Join(theirs, ",")})
			st, err = newSrc(t, s, nil).Open(ctx, req)
			if err == nil {
				rows, _ := drain(t, st, 20*time.Second, nil)
				st.Close()
				t.Fatalf("checkpoint GTID %s resumed on a server whose same sequence numbers are %s: delivered %v", strings.Join(theirs, ","), cp.GTID, changesOf(rows))
			}
			t.Logf("%v", err)
			for _, w := range []string{"was taken on another server (server_id 4242)", "another transaction, written by server_id " + fmt.Sprint(cp.ServerID), "diverged", "on_binlog_gap = 'resnapshot'"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q", w)
				}
			}
			if !errors.Is(err, connectors.ErrPositionLost) {
				t.Errorf("error is not ErrPositionLost (on_binlog_gap = 'resnapshot' would not take it): %v", err)
			}

			// Their GTID past this server's sequence numbers, which this
			// server wrote itself: it was promoted, and will not
			// replicate that GTID, however long one waits.
			p := strings.Split(theirs[0], "-")
			ahead := fmt.Sprintf("%s-%d-%d", p[0], oldPrimary, atoi(p[2])+1000000000)
			req.Resume = editState(t, mark.Bytes(), map[string]any{"server_id": oldPrimary, "gtid": ahead})
			_, err = newSrc(t, s, nil).Open(ctx, req)
			if err == nil {
				t.Fatalf("checkpoint GTID %s resumed", ahead)
			}
			t.Logf("%v", err)
			for _, w := range []string{"is not in the server's binary logs yet", fmt.Sprintf("this server wrote %s-%d-", p[0], cp.ServerID), "itself, so it is no replica that will get " + ahead} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q", w)
				}
			}
			if strings.Contains(err.Error(), "start again when it has") {
				t.Errorf("error advises waiting for a GTID this server will never replicate: %v", err)
			}
		})
	}
}

// TestResumeWithUnreadDomains: on the server a checkpoint of another one
// resumes on, transactions of a GTID domain the checkpoint's server never
// had come before the resume position — errant transactions of a replica
// promoted, or a multi-source replica's other primary. They are read, from
// the domain's first transaction on, as a MariaDB replica given that
// position reads them (failover trial: they were skipped, with an ERROR in
// the log). A checkpoint that has the domain resumes after it.
func TestResumeWithUnreadDomains(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			tbl := quoteIdent(db) + ".t"
			run(t, s, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO "+tbl+" VALUES (1, 1)")
			// A domain of the test's own (its first transaction is this
			// one, so the read from it is short) before the checkpoint.
			domain := 1000000 + rand.Intn(1<<30)
			run(t, s, fmt.Sprintf("SET SESSION gtid_domain_id = %d", domain), "INSERT INTO "+tbl+" VALUES (2, 2)")
			// A transaction of domain 0 after it: the checkpoint's GTID of
			// domain 0 is placed after the insert of 2.
			run(t, s, "CREATE TABLE "+quoteIdent(db)+".u (id INT PRIMARY KEY)")
			ref := connectors.TableRef{DB: db, Table: "t"}
			req := connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}, Once: true}
			ctx := context.Background()
			st, err := newSrc(t, s, nil).Open(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			_, mark := drain(t, st, 20*time.Second, nil)
			st.Close()
			cp, err := decodeState(mark.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			var mine string
			var others []string
			for _, g := range strings.Split(cp.GTID, ",") {
				if strings.HasPrefix(g, fmt.Sprintf("%d-", domain)) {
					mine = g
				} else {
					others = append(others, g)
				}
			}
			if mine == "" || len(others) == 0 {
				t.Fatalf("checkpoint GTID %q: want domain %d and others", cp.GTID, domain)
			}
			run(t, s, "INSERT INTO "+tbl+" VALUES (3, 3)")
			resume := func(gtid string, want ...change) string {
				logs := captureLog(t)
				req.Resume = editState(t, mark.Bytes(), map[string]any{"server_id": 4242, "gtid": gtid})
				st, err := newSrc(t, s, nil).Open(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				rows, _ := drain(t, st, 60*time.Second, nil)
				st.Close()
				sameChanges(t, "resumed at "+gtid, changesOf(rows), want)
				return logs.String()
			}
			if l := resume(cp.GTID, change{"insert", "3", "3"}); strings.Contains(l, "did not have") {
				t.Errorf("checkpoint with every domain: %s", l)
			}
			l := resume(strings.Join(others, ","), change{"insert", "2", "2"}, change{"insert", "3", "3"})
			if !strings.Contains(l, "GTID domains the checkpoint's server did not have") || !strings.Contains(l, mine) {
				t.Errorf("checkpoint %s of a server without domain %d: the read of %s is not logged:\n%s", strings.Join(others, ","), domain, mine, l)
			}
		})
	}
}
