package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	etlexec "github.com/etlq/etlq/exec"
)

// tableChange is one row change with its table.
type tableChange struct{ table, op, id, v string }

func (c tableChange) String() string { return c.table + ":" + c.op + " " + c.id + "=" + c.v }

// markAt is a Mark and how many changes came before it.
type markAt struct {
	n    int
	mark *etlexec.Mark
}

// drainTables reads a stream to io.EOF, returning its changes with their
// tables and every Mark.
func drainTables(t *testing.T, st connectors.Stream) ([]tableChange, []markAt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []tableChange
	var marks []markAt
	for {
		b, err := st.Next(ctx)
		if err != nil {
			if strings.Contains(err.Error(), "EOF") {
				return out, marks
			}
			t.Fatalf("next: %v (after %v)", err, out)
		}
		for _, r := range batchRows(b) {
			out = append(out, tableChange{b.Table, r["_op"], r["id"], r["v"]})
		}
		if b.Mark != nil {
			marks = append(marks, markAt{len(out), b.Mark})
		}
		b.Release()
	}
}

func gtidPos(t *testing.T, s server) string {
	t.Helper()
	c := conn(t, s)
	defer c.Close()
	r, err := c.Execute("SELECT @@GLOBAL.gtid_binlog_pos")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.GetString(0, 0)
	return v
}

// waitGTID waits until replica r has applied GTID position pos.
func waitGTID(t *testing.T, r server, pos string) {
	t.Helper()
	c := conn(t, r)
	defer c.Close()
	res, err := c.Execute("SELECT MASTER_GTID_WAIT(" + quoteString(pos) + ", 30)")
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := res.GetInt(0, 0); w != 0 {
		st, _ := c.Execute("SHOW SLAVE STATUS")
		var why string
		if st != nil && st.RowNumber() > 0 {
			why, _ = st.GetStringByName(0, "Last_IO_Error")
			e2, _ := st.GetStringByName(0, "Last_SQL_Error")
			why += " " + e2
		}
		t.Fatalf("replica did not reach %s in 30 s: %s", pos, why)
	}
}

// onlyDomains keeps the GTIDs of the given domains of a GTID position.
func onlyDomains(pos string, domains ...string) string {
	var out []string
	for _, g := range strings.Split(pos, ",") {
		for _, d := range domains {
			if strings.HasPrefix(g, d+"-") {
				out = append(out, g)
			}
		}
	}
	return strings.Join(out, ",")
}

// TestResumeMultiDomainOnReplica: a checkpoint of primary P holding GTIDs
// of two domains (7 and 8) resumes on its replica R, which wrote the two
// domains in another order (all of domain 7, then all of domain 8: no point
// of R's binlog has both domains where the checkpoint has them), as a
// MariaDB replica resumes from such a position: each domain from its own
// GTID on. Every change after the checkpoint arrives once — none of R's
// copies of what etlq read on P (a DDL of domain 8 among them: on a MINIMAL
// server the rows after it decode only with the checkpoint's schema), and
// R's own errant transaction of domain 9, a domain P never had, which
// comes before the checkpoint's place in R's binlog: it is read, as a
// replica of R would read it. A checkpoint taken on R while domain 8 is
// still being skipped resumes on R with the rest skipped still. A
// checkpoint whose GTID of domain 8 is another server's transaction on R
// is refused (diverged); and once R's binlog of domain 9's first
// transactions is purged, a checkpoint without domain 9 is refused unless
// skip_gtid_domains names it.
func TestResumeMultiDomainOnReplica(t *testing.T) {
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	for _, meta := range []string{"FULL", "MINIMAL"} {
		t.Run(meta, func(t *testing.T) {
			cnf := "binlog_row_metadata = " + meta
			p, stopP := privateServer(t, "primary", 1, cnf)
			r, _ := privateServer(t, "replica", 2, "log_slave_updates = ON\n"+cnf)
			pPort := p.dsn[strings.LastIndexByte(p.dsn, ':')+1:]
			for _, s := range []server{p, r} {
				c := conn(t, s)
				res, err := c.Execute("SELECT @@GLOBAL.binlog_row_metadata")
				c.Close()
				if err != nil {
					t.Fatal(err)
				}
				if v, _ := res.GetString(0, 0); v != meta {
					t.Fatalf("%s: binlog_row_metadata = %s, want %s", s.name, v, meta)
				}
			}

			run(t, p, "CREATE DATABASE md", "CREATE TABLE md.a (id INT PRIMARY KEY, v INT NOT NULL)",
				"CREATE TABLE md.b (id INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO md.a VALUES (1, 1)", "INSERT INTO md.b VALUES (1, 1)")
			// R replicates domains 0 and 7 first; domain 8 later.
			run(t, r, "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = "+pPort+", MASTER_USER = 'root', MASTER_USE_GTID = slave_pos, DO_DOMAIN_IDS = (0, 7)",
				"START SLAVE")
			waitGTID(t, r, gtidPos(t, p))
			// R's own transaction, in a domain P never has: errant.
			run(t, r, "SET SESSION gtid_domain_id = 9", "INSERT INTO md.a VALUES (100, 100)")

			// On P, domains 7 and 8 interleaved; a DDL in domain 8.
			run(t, p, "SET SESSION gtid_domain_id = 7", "INSERT INTO md.a VALUES (2, 2)",
				"SET SESSION gtid_domain_id = 8", "ALTER TABLE md.b ADD COLUMN w INT NOT NULL DEFAULT 0", "INSERT INTO md.b VALUES (2, 2, 2)",
				"SET SESSION gtid_domain_id = 7", "UPDATE md.a SET v = -2 WHERE id = 2")
			// etlq on P: the snapshot, and a checkpoint after it.
			ref := func(tbl string) connectors.StreamTable {
				return connectors.StreamTable{Ref: connectors.TableRef{DB: "md", Table: tbl}, Snapshot: connectors.SnapshotInitial}
			}
			req := connectors.StreamRequest{Tables: []connectors.StreamTable{ref("a"), ref("b")}, Once: true}
			ctx := context.Background()
			st, err := newSrc(t, p, nil).Open(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			snap, marks := drainTables(t, st)
			st.Close()
			if len(snap) != 4 || len(marks) == 0 {
				t.Fatalf("snapshot on P: %v, %d marks", snap, len(marks))
			}
			cpState := marks[len(marks)-1].mark.Bytes()
			cp, _ := decodeState(cpState)
			if !strings.Contains(cp.GTID, "7-1-2") || !strings.Contains(cp.GTID, "8-1-2") || cp.ServerID != 1 {
				t.Fatalf("checkpoint on P: gtid %q, server_id %d", cp.GTID, cp.ServerID)
			}
			// After the checkpoint, on P.
			run(t, p, "SET SESSION gtid_domain_id = 7", "INSERT INTO md.a VALUES (3, 3)",
				"SET SESSION gtid_domain_id = 8", "INSERT INTO md.b VALUES (3, 3, 3)",
				"SET SESSION gtid_domain_id = 0", "INSERT INTO md.a VALUES (4, 4)")
			pPos := gtidPos(t, p)
			waitGTID(t, r, onlyDomains(pPos, "0", "7"))
			// Now domain 8, from its start (R's slave position without it).
			c := conn(t, r)
			res, err := c.Execute("SELECT @@GLOBAL.gtid_slave_pos")
			if err != nil {
				t.Fatal(err)
			}
			slavePos, _ := res.GetString(0, 0)
			c.Close()
			run(t, r, "STOP SLAVE", "SET GLOBAL gtid_slave_pos = "+quoteString(onlyDomains(slavePos, "0", "7")),
				"CHANGE MASTER TO DO_DOMAIN_IDS = ()", "START SLAVE")
			waitGTID(t, r, pPos)
			// P goes; R is promoted and written to.
			stopP("down", "mariadb-a")
			run(t, r, "STOP SLAVE", "RESET SLAVE ALL",
				"SET SESSION gtid_domain_id = 7", "INSERT INTO md.a VALUES (5, 5)",
				"SET SESSION gtid_domain_id = 8", "INSERT INTO md.b VALUES (5, 5, 5)")

			want := []tableChange{
				{"a", "insert", "100", "100"}, // domain 9, R's own: read
				{"a", "insert", "3", "3"},
				{"a", "insert", "4", "4"},
				{"b", "insert", "3", "3"},
				{"a", "insert", "5", "5"},
				{"b", "insert", "5", "5"},
			}
			logs := captureLog(t)
			req.Resume = cpState
			st, err = newSrc(t, r, nil).Open(ctx, req)
			if err != nil {
				t.Fatalf("checkpoint of P with GTID %s on R: %v", cp.GTID, err)
			}
			got, rmarks := drainTables(t, st)
			st.Close()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("resumed on R:\n got %v\nwant %v\nlog:\n%s", got, want, logs)
			}
			if l := logs.String(); !strings.Contains(l, "resuming by GTID on another server") || !strings.Contains(l, "9-2-1") {
				t.Errorf("log does not say it resumes by GTID, and reads domain 9:\n%s", l)
			}

			// A checkpoint of R taken before domain 8's copies of what
			// etlq read on P: resumed on R, they are skipped still.
			var mid *etlexec.Mark
			for _, m := range rmarks {
				if m.n == 2 { // after the insert of 3 into a
					mid = m.mark
				}
			}
			if mid == nil {
				t.Fatalf("no mark after the insert of 3 into a: %v", rmarks)
			}
			req.Resume = mid.Bytes()
			st, err = newSrc(t, r, nil).Open(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, rmarks2 := drainTables(t, st)
			st.Close()
			if fmt.Sprint(got) != fmt.Sprint(want[2:]) {
				t.Errorf("resumed on R at its own checkpoint %s:\n got %v\nwant %v", mid.Bytes(), got, want[2:])
			}
			last, _ := decodeState(rmarks2[len(rmarks2)-1].mark.Bytes())
			if len(last.Skip) != 0 {
				t.Errorf("last checkpoint still skips: %+v", last.Skip)
			}

			// Domain 8's GTID another server's transaction on R: diverged.
			var theirs []string
			for _, g := range strings.Split(cp.GTID, ",") {
				if strings.HasPrefix(g, "8-") {
					g = "8-4242-" + g[strings.LastIndexByte(g, '-')+1:]
				}
				theirs = append(theirs, g)
			}
			req.Resume = editState(t, cpState, map[string]any{"gtid": strings.Join(theirs, ",")})
			if _, err = newSrc(t, r, nil).Open(ctx, req); err == nil {
				t.Fatalf("checkpoint GTID %s resumed", strings.Join(theirs, ","))
			}
			for _, w := range []string{"was taken on another server (server_id 1)", "another transaction, written by server_id 1", "diverged", "on_binlog_gap = 'resnapshot'"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if !errors.Is(err, connectors.ErrPositionLost) {
				t.Errorf("not ErrPositionLost: %v", err)
			}

			// R's binlog of domain 9's first transactions purged: a
			// checkpoint of another server without domain 9 is refused,
			// naming the domain and the ways out.
			rlast, _ := decodeState(rmarks[len(rmarks)-1].mark.Bytes())
			run(t, r, "FLUSH BINARY LOGS")
			c = conn(t, r)
			res, err = c.Execute("SHOW MASTER STATUS")
			if err != nil {
				t.Fatal(err)
			}
			newest, _ := res.GetString(0, 0)
			c.Close()
			// (A binlog dump thread of a stream just closed can hold the
			// old file a moment.)
			for i := 0; ; i++ {
				run(t, r, "PURGE BINARY LOGS TO "+quoteString(newest))
				c = conn(t, r)
				res, err = c.Execute("SHOW BINARY LOGS")
				c.Close()
				if err != nil {
					t.Fatal(err)
				}
				if oldest, _ := res.GetString(0, 0); oldest == newest {
					break
				} else if i == 100 {
					t.Fatalf("PURGE BINARY LOGS TO %s left %s", newest, oldest)
				}
				time.Sleep(100 * time.Millisecond)
			}
			run(t, r, "SET SESSION gtid_domain_id = 7", "INSERT INTO md.a VALUES (6, 6)")
			var no9 []string
			for _, g := range strings.Split(rlast.GTID, ",") {
				if !strings.HasPrefix(g, "9-") {
					no9 = append(no9, g)
				}
			}
			req.Resume = editState(t, rmarks[len(rmarks)-1].mark.Bytes(), map[string]any{"server_id": 4242, "gtid": strings.Join(no9, ",")})
			if st, err = newSrc(t, r, nil).Open(ctx, req); err == nil {
				got, _ := drainTables(t, st)
				st.Close()
				t.Fatalf("checkpoint %s without domain 9 resumed after its first transactions were purged: %v", req.Resume, got)
			}
			t.Logf("%v", err)
			for _, w := range []string{"9-2-1", "purged", "skip_gtid_domains = '9'", "on_binlog_gap = 'resnapshot'"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if !errors.Is(err, connectors.ErrPositionLost) {
				t.Errorf("not ErrPositionLost: %v", err)
			}
			logs = captureLog(t)
			st, err = newSrc(t, r, map[string]any{"skip_gtid_domains": "9"}).Open(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, smarks := drainTables(t, st)
			st.Close()
			if fmt.Sprint(got) != fmt.Sprint([]tableChange{{"a", "insert", "6", "6"}}) {
				t.Errorf("with skip_gtid_domains = '9': %v, want the insert of 6", got)
			}
			if l := logs.String(); !strings.Contains(l, "skip_gtid_domains") || !strings.Contains(l, "9-2-1") {
				t.Errorf("log does not name the skipped domain:\n%s", l)
			}
			if s, _ := decodeState(smarks[len(smarks)-1].mark.Bytes()); !strings.Contains(s.GTID, "9-2-1") {
				t.Errorf("checkpoint after skipping domain 9 lacks it: %q", s.GTID)
			}
		})
	}
}

// TestSkipGTIDDomainsOption: skip_gtid_domains takes domain ids separated
// by commas; anything else is refused when the source is made, naming it.
func TestSkipGTIDDomainsOption(t *testing.T) {
	for _, c := range []struct{ v, err string }{
		{"", ""},
		{"9", ""},
		{"1, 7", ""},
		{"4294967295", ""},
		{"1,x", `"x" is not a GTID domain id`},
		{"1,,7", "an empty item"},
		{"-1", `"-1" is not a GTID domain id`},
		{"4294967296", `"4294967296" is not a GTID domain id`},
	} {
		_, err := NewSource("s", "mysql://root@127.0.0.1:3306", map[string]any{"skip_gtid_domains": c.v})
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.v, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "skip_gtid_domains")):
			t.Errorf("%q: error %v, want one naming skip_gtid_domains and %q", c.v, err, c.err)
		}
	}
}

// TestStartAtMultiDomainOnReplica: start_at = a GTID set of several
// domains read on primary P (its @@gtid_binlog_pos, as an operator takes it
// after a failover) starts a SNAPSHOT never stream on its promoted replica
// R, which wrote the domains in another order (all of domain 7, then all
// of domain 8: no point of R's binlog has both domains where the set has
// them), domain by domain, as a checkpoint with that GTID set resumes
// there (TestResumeMultiDomainOnReplica): every change after the set's
// GTIDs arrives once, and R's own transaction of domain 9, a domain the
// set does not name, is read — or skipped with skip_gtid_domains. A
// checkpoint taken while domain 8 is still being skipped resumes with the
// rest skipped still. It was refused: "these GTIDs are not one point of
// the binlog".
func TestStartAtMultiDomainOnReplica(t *testing.T) {
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	for _, meta := range []string{"FULL", "MINIMAL"} {
		t.Run(meta, func(t *testing.T) {
			cnf := "binlog_row_metadata = " + meta
			p, stopP := privateServer(t, "primary", 1, cnf)
			r, _ := privateServer(t, "replica", 2, "log_slave_updates = ON\n"+cnf)
			pPort := p.dsn[strings.LastIndexByte(p.dsn, ':')+1:]

			run(t, p, "CREATE DATABASE md", "CREATE TABLE md.a (id INT PRIMARY KEY, v INT NOT NULL)",
				"CREATE TABLE md.b (id INT PRIMARY KEY, v INT NOT NULL)", "INSERT INTO md.a VALUES (1, 1)", "INSERT INTO md.b VALUES (1, 1)")
			// R replicates domains 0 and 7 first; domain 8 later.
			run(t, r, "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = "+pPort+", MASTER_USER = 'root', MASTER_USE_GTID = slave_pos, DO_DOMAIN_IDS = (0, 7)",
				"START SLAVE")
			waitGTID(t, r, gtidPos(t, p))
			// R's own transaction, in a domain P never has: errant.
			run(t, r, "SET SESSION gtid_domain_id = 9", "INSERT INTO md.a VALUES (100, 100)")
			// On P, domains 7 and 8 interleaved.
			run(t, p, "SET SESSION gtid_domain_id = 7", "INSERT INTO md.a VALUES (2, 2)",
				"SET SESSION gtid_domain_id = 8", "INSERT INTO md.b VALUES (2, 2)",
				"SET SESSION gtid_domain_id = 7", "UPDATE md.a SET v = -2 WHERE id = 2")
			startAt := gtidPos(t, p)
			if !strings.Contains(startAt, "7-1-2") || !strings.Contains(startAt, "8-1-1") {
				t.Fatalf("P's GTID position %q", startAt)
			}
			// After it, on P.
			run(t, p, "SET SESSION gtid_domain_id = 7", "INSERT INTO md.a VALUES (3, 3)",
				"SET SESSION gtid_domain_id = 8", "INSERT INTO md.b VALUES (3, 3)",
				"SET SESSION gtid_domain_id = 0", "INSERT INTO md.a VALUES (4, 4)")
			pPos := gtidPos(t, p)
			waitGTID(t, r, onlyDomains(pPos, "0", "7"))
			c := conn(t, r)
			res, err := c.Execute("SELECT @@GLOBAL.gtid_slave_pos")
			if err != nil {
				t.Fatal(err)
			}
			slavePos, _ := res.GetString(0, 0)
			c.Close()
			run(t, r, "STOP SLAVE", "SET GLOBAL gtid_slave_pos = "+quoteString(onlyDomains(slavePos, "0", "7")),
				"CHANGE MASTER TO DO_DOMAIN_IDS = ()", "START SLAVE")
			waitGTID(t, r, pPos)
			// P goes; R is promoted and written to.
			stopP("down", "mariadb-a")
			run(t, r, "STOP SLAVE", "RESET SLAVE ALL",
				"SET SESSION gtid_domain_id = 7", "INSERT INTO md.a VALUES (5, 5)",
				"SET SESSION gtid_domain_id = 8", "INSERT INTO md.b VALUES (5, 5)")

			want := []tableChange{
				{"a", "insert", "100", "100"}, // domain 9, R's own: read
				{"a", "insert", "3", "3"},
				{"a", "insert", "4", "4"},
				{"b", "insert", "3", "3"},
				{"a", "insert", "5", "5"},
				{"b", "insert", "5", "5"},
			}
			ref := func(tbl string) connectors.StreamTable {
				return connectors.StreamTable{Ref: connectors.TableRef{DB: "md", Table: tbl}, Snapshot: connectors.SnapshotNever}
			}
			req := connectors.StreamRequest{Tables: []connectors.StreamTable{ref("a"), ref("b")}, Once: true}
			ctx := context.Background()
			logs := captureLog(t)
			st, err := newSrc(t, r, map[string]any{"start_at": startAt}).Open(ctx, req)
			if err != nil {
				t.Fatalf("start_at = %q on R: %v", startAt, err)
			}
			got, marks := drainTables(t, st)
			st.Close()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("start_at = %q on R:\n got %v\nwant %v\nlog:\n%s", startAt, got, want, logs)
			}
			if l := logs.String(); !strings.Contains(l, "placed domain by domain") || !strings.Contains(l, "9-2-1") {
				t.Errorf("log does not say the set is placed domain by domain, and domain 9 read:\n%s", l)
			}

			// A checkpoint taken before domain 8's copies of P's changes
			// up to the set: resumed, they are skipped still.
			var mid *etlexec.Mark
			for _, m := range marks {
				if m.n == 2 { // after the insert of 3 into a
					mid = m.mark
				}
			}
			if mid == nil {
				t.Fatalf("no mark after the insert of 3 into a: %v", marks)
			}
			if s, _ := decodeState(mid.Bytes()); len(s.Skip) == 0 {
				t.Errorf("checkpoint %s holds no skip of domain 8", mid.Bytes())
			}
			req.Resume = mid.Bytes()
			st, err = newSrc(t, r, map[string]any{"start_at": startAt}).Open(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = drainTables(t, st)
			st.Close()
			if fmt.Sprint(got) != fmt.Sprint(want[2:]) {
				t.Errorf("resumed at the checkpoint %s:\n got %v\nwant %v", mid.Bytes(), got, want[2:])
			}

			// skip_gtid_domains = '9': R's own domain is not read.
			req.Resume = nil
			logs = captureLog(t)
			st, err = newSrc(t, r, map[string]any{"start_at": startAt, "skip_gtid_domains": "9"}).Open(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = drainTables(t, st)
			st.Close()
			if fmt.Sprint(got) != fmt.Sprint(want[1:]) {
				t.Errorf("with skip_gtid_domains = '9':\n got %v\nwant %v", got, want[1:])
			}
			if l := logs.String(); !strings.Contains(l, "skip_gtid_domains skips them") || !strings.Contains(l, "9-2-1") {
				t.Errorf("log does not name the skipped domain:\n%s", l)
			}
		})
	}
}
