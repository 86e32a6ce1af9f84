package mysql

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// oracleGTIDPosition is the GTID look-up start_at had before it read the
// Gtid_list events, kept as the oracle of the new one: every event of every
// binlog file, through SHOW BINLOG EVENTS, until the GTID; then the next
// Gtid event in that file, the start of the next file, or the binlog's end.
// files are the files it may read (SHOW BINARY LOGS, or a tail of it).
func oracleGTIDPosition(c *client.Conn, files []string, gtid string) (binlogPos, error) {
	want, err := gm.ParseMariadbGTIDSet(gtid)
	if err != nil {
		return binlogPos{}, err
	}
	for i, f := range files {
		ev, err := c.Execute("SHOW BINLOG EVENTS IN " + quoteString(f))
		if err != nil {
			return binlogPos{}, err
		}
		found := false
		for j := 0; j < ev.RowNumber(); j++ {
			typ, _ := ev.GetString(j, 2)
			info, _ := ev.GetString(j, 5)
			if found && typ == "Gtid" {
				p, _ := ev.GetUint(j, 1)
				return binlogPos{File: f, Pos: uint32(p)}, nil
			}
			if typ == "Gtid" || typ == "Xid" || typ == "Query" {
				if strings.Contains(info, "GTID ") {
					g := strings.Fields(info[strings.Index(info, "GTID ")+5:])
					if len(g) > 0 {
						if s, err := gm.ParseMariadbGTIDSet(g[0]); err == nil && want.Contain(s) && s.Contain(want) {
							found = true
						}
					}
				}
			}
		}
		if found {
			if i+1 < len(files) {
				return binlogPos{File: files[i+1], Pos: 4}, nil
			}
			cur, _, err := masterStatus(c, "mariadb")
			return cur, err
		}
	}
	return binlogPos{}, fmt.Errorf("start_at = %q: GTID not found in the server's binary logs", gtid)
}

// binaryLogs lists the server's binlog files, oldest first.
func binaryLogs(t testing.TB, c *client.Conn) []string {
	t.Helper()
	r, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	files := make([]string, r.RowNumber())
	for i := range files {
		files[i], _ = r.GetString(i, 0)
	}
	return files
}

// exec1 runs statements on c, failing the test on an error.
func exec1(t testing.TB, c *client.Conn, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// commitGTID runs one autocommitted statement and returns its GTID.
func commitGTID(t testing.TB, c *client.Conn, q string) string {
	t.Helper()
	exec1(t, c, q)
	r, err := c.Execute("SELECT @@last_gtid")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := r.GetString(0, 0)
	if g == "" {
		t.Fatalf("%s: no GTID", q)
	}
	return g
}

// gtidFile returns the file among files whose events hold GTID g, and
// whether g's transaction is the last one in it.
func gtidFile(t testing.TB, c *client.Conn, files []string, g string) (string, bool) {
	t.Helper()
	for _, f := range files {
		r, err := c.Execute("SHOW BINLOG EVENTS IN " + quoteString(f))
		if err != nil {
			t.Fatal(err)
		}
		at := -1
		for j := 0; j < r.RowNumber(); j++ {
			typ, _ := r.GetString(j, 2)
			info, _ := r.GetString(j, 5)
			if typ == "Gtid" && at >= 0 {
				return f, false
			}
			if fs := strings.Fields(info); typ == "Gtid" {
				for k := 0; k+1 < len(fs); k++ {
					if fs[k] == "GTID" && fs[k+1] == g {
						at = j
					}
				}
			}
		}
		if at >= 0 {
			return f, true
		}
	}
	t.Fatalf("GTID %s is in none of %v", g, files)
	return "", false
}

// TestStartAtGTIDLookup: start_at = a MariaDB GTID finds the same position
// as a scan of every binlog event does, for GTIDs in the first, a middle and
// the last of several binlog files, the last transaction of a file and of
// the whole binlog, and two domains; GTIDs the binlog does not hold (purged,
// never written, not written yet, unknown domain) are refused with errors
// that say which. Each GTID is looked up over all the server's binlog files;
// the oracle reads only the files this test wrote, which hold them all.
func TestStartAtGTIDLookup(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			c := conn(t, s)
			defer c.Close()
			st := &stream{streamConfig: streamConfig{flavor: "mariadb", log: slog.Default()}}
			tbl := quoteIdent(db) + ".t"
			exec1(t, c, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY, v VARCHAR(20))")
			n := 0
			ins := func() string {
				n++
				return commitGTID(t, c, fmt.Sprintf("INSERT INTO %s VALUES (%d, 'v%d')", tbl, n, n))
			}
			before := ins() // in a file older than the test's own
			exec1(t, c, "FLUSH BINARY LOGS")
			// The test's own files are named from the first one on, not
			// counted by index: other tests flush the shared server's
			// binary logs meanwhile (and other sessions may purge them),
			// which moves the index of every file.
			first, _, err := masterStatus(c, "mariadb")
			if err != nil {
				t.Fatal(err)
			}
			// No test of make test purges the shared servers' binary
			// logs (those that purge run private servers), so under
			// CI=true a purge here is a failure, not a skip.
			purged := func() {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s, the test's first binlog file, was purged while it ran (no test should purge the shared server's binary logs)", first.File)
				}
				t.Skipf("another session purged %s, the test's first binlog file, while it ran", first.File)
			}
			ownOf := func(files []string) []string {
				for i, f := range files {
					if fileSeq(f) >= fileSeq(first.File) {
						if fileSeq(f) > fileSeq(first.File) {
							purged()
						}
						return files[i:]
					}
				}
				purged()
				return nil
			}
			a1, a2, a3 := ins(), ins(), ins()
			exec1(t, c, "FLUSH BINARY LOGS")
			b1 := ins()
			exec1(t, c, "SET SESSION gtid_domain_id = 1")
			d1 := ins()
			exec1(t, c, "SET SESSION gtid_domain_id = 0")
			b2 := ins()
			exec1(t, c, "SET SESSION gtid_domain_id = 1")
			d2 := ins()
			// A gap in domain 1: sequence numbers d2+1 … d2+9 are never written.
			var gd, gs uint32
			var gn uint64
			fmt.Sscanf(d2, "%d-%d-%d", &gd, &gs, &gn)
			exec1(t, c, fmt.Sprintf("SET SESSION gtid_seq_no = %d", gn+10))
			d3 := ins()
			// A GTID of a domain no other session writes, then one of
			// domain 1.
			exec1(t, c, "SET SESSION gtid_domain_id = 7")
			e1 := ins()
			exec1(t, c, "SET SESSION gtid_domain_id = 1")
			d4 := ins()
			exec1(t, c, "SET SESSION gtid_domain_id = 0")
			b3 := ins()
			exec1(t, c, "FLUSH BINARY LOGS")
			c1, c2 := ins(), ins()
			c3 := ins()
			own := ownOf(binaryLogs(t, c))

			for _, g := range []string{a1, a3, b2, d1, c2} {
				f, _ := gtidFile(t, c, own, g)
				t.Logf("%s is in %s", g, f)
			}
			if f, last := gtidFile(t, c, own, a3); !last {
				t.Logf("another session wrote to %s after %s: the last-of-a-file case is not covered this run", f, a3)
			}

			// Same position as the oracle.
			for _, g := range []string{a1, a2, a3, b1, d1, b2, d2, d3, e1, d4, b3, c1, c2} {
				got, gt, err := st.resolveStartAt(c, g)
				if err != nil {
					t.Errorf("start_at = %q: %v", g, err)
					continue
				}
				if gt != g {
					t.Errorf("start_at = %q: GTID %q returned", g, gt)
				}
				want, err := oracleGTIDPosition(c, own, g)
				if err != nil {
					t.Fatalf("oracle, %s: %v", g, err)
				}
				if got != want {
					t.Errorf("start_at = %q: %s, the scan of every event gives %s", g, got, want)
				}
			}
			// The last transaction of the whole binlog: the position is its
			// end, the end of the binlog unless a session wrote since. Both
			// look-ups read the binlog as it is between end0 and end1 (the
			// oracle's files listed there too: another session may have
			// flushed a new file since own was listed); they are compared
			// when it did not move meanwhile — a write or a FLUSH BINARY
			// LOGS of another session in between changes what "the end"
			// is, and the case is then not covered this run.
			end0, _, err := masterStatus(c, "mariadb")
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := st.resolveStartAt(c, c3)
			if err != nil {
				t.Fatalf("start_at = %q: %v", c3, err)
			}
			want, err := oracleGTIDPosition(c, ownOf(binaryLogs(t, c)), c3)
			if err != nil {
				t.Fatal(err)
			}
			end1, _, err := masterStatus(c, "mariadb")
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case end1 != end0:
				t.Logf("the binlog moved from %s to %s while %s was looked up: the last-of-the-binlog case is not covered this run", end0, end1, c3)
			case got != want:
				t.Errorf("start_at = %q (the binlog's last up to %s): %s, the scan of every event gives %s", c3, end0, got, want)
			case got.cmp(end0) > 0:
				t.Errorf("start_at = %q: %s is past the binlog's end %s when it was looked up", c3, got, end0)
			case got != end0:
				t.Logf("another session wrote or flushed the binlog after %s: the last-of-the-binlog case is not covered this run", c3)
			}

			// One GTID per domain: each domain placed on its own, as a
			// replica's GTID position (placeByDomain): the stream starts
			// after the earlier GTID and skips the other's domain up to
			// after its GTID — also where no point of the binlog has both
			// (d1 was written after a1). The server's other domains,
			// other tests', are skipped (skip_gtid_domains), not read
			// from their first transaction. (Both domains are written
			// again after these GTIDs: a domain idle since its GTID is
			// placed at the start of a later file.)
			for _, tc := range []struct{ first, later string }{{d1, b2}, {a1, d1}} {
				set := tc.later + "," + tc.first
				var laterDomain uint32
				fmt.Sscanf(tc.later, "%d-", &laterDomain)
				r, err := c.Execute("SELECT @@GLOBAL.gtid_binlog_pos")
				if err != nil {
					t.Fatal(err)
				}
				all, _ := r.GetString(0, 0)
				var others []string
				for _, g := range strings.Split(all, ",") {
					d, _, _ := strings.Cut(g, "-")
					if !strings.HasPrefix(tc.first, d+"-") && !strings.HasPrefix(tc.later, d+"-") {
						others = append(others, d)
					}
				}
				st.opts.skipDomains = strings.Join(others, ",")
				at, err := st.startAtPlace(c, set)
				st.opts.skipDomains = ""
				if err != nil {
					t.Errorf("start_at = %q: %v", set, err)
					continue
				}
				if want, _ := oracleGTIDPosition(c, own, tc.first); at.pos != want {
					t.Errorf("start_at = %q: %s, want %s (after %s)", set, at.pos, want, tc.first)
				}
				wantSkip, _ := oracleGTIDPosition(c, own, tc.later)
				found := false
				for _, sk := range at.skips {
					if sk.Domain == laterDomain {
						found = sk.at() == wantSkip
					}
				}
				if !found {
					t.Errorf("start_at = %q: skips %+v, want domain %d skipped up to %s (after %s)", set, at.skips, laterDomain, wantSkip, tc.later)
				}
			}

			// Refused, with the reason.
			for _, tc := range []struct{ gtid, want string }{
				{fmt.Sprintf("1-%d-%d", gs, gn+5), "has no sequence number"},
				{fmt.Sprintf("0-1-%d", 1<<60), "not in the server's binary logs yet: the newest transaction of domain 0 is"},
				{"4242-1-1", "no transaction of domain 4242"},
				{"0-1-0", "sequence numbers start at 1"},
				{a1 + "," + a2, "both of domain 0"},
			} {
				_, _, err := st.resolveStartAt(c, tc.gtid)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("start_at = %q: error %v, want one saying %q", tc.gtid, err, tc.want)
				}
				if _, err := oracleGTIDPosition(c, own, tc.gtid); err == nil && !strings.Contains(tc.gtid, ",") {
					t.Errorf("start_at = %q: the oracle finds it", tc.gtid)
				}
			}
			// Purged: as if the files before the test's own were gone.
			_, err = findGTIDPosition(c, own, before)
			if err == nil || !strings.Contains(err.Error(), "was purged: the oldest binary log on the server, "+own[0]+", begins after") {
				t.Errorf("GTID %s, written before %s: error %v, want it purged", before, own[0], err)
			}
			if _, err := oracleGTIDPosition(c, own, before); err == nil {
				t.Errorf("oracle: GTID %s found in %v", before, own)
			}
		})
	}
}

// benchGTIDFiles is how many full binlog files of small transactions
// BenchmarkStartAtGTID wants on the server, written once and reused while
// they are there.
const benchGTIDFiles = 3

// ensureSmallTxBinlog returns the first of benchGTIDFiles binlog files
// holding nothing but small transactions (one 80-byte row each, about
// 190,000 to a 64 MiB file), writing them when they are not on the server.
func ensureSmallTxBinlog(b *testing.B, c *client.Conn) string {
	const db = "etlq_bench_startat"
	exec1(b, c, "CREATE DATABASE IF NOT EXISTS "+db,
		"CREATE TABLE IF NOT EXISTS "+db+".gtid_window (first_file VARCHAR(64))")
	files := binaryLogs(b, c)
	r, err := c.Execute("SELECT first_file FROM " + db + ".gtid_window")
	if err != nil {
		b.Fatal(err)
	}
	if r.RowNumber() == 1 {
		first, _ := r.GetString(0, 0)
		for _, f := range files {
			if f == first {
				return first
			}
		}
	}
	t0 := time.Now()
	exec1(b, c, "DELETE FROM "+db+".gtid_window",
		"CREATE TABLE IF NOT EXISTS "+db+".small (id INT AUTO_INCREMENT PRIMARY KEY, a INT, b VARCHAR(100))",
		"FLUSH BINARY LOGS")
	first, _, err := masterStatus(c, "mariadb")
	if err != nil {
		b.Fatal(err)
	}
	for {
		cur, _, err := masterStatus(c, "mariadb")
		if err != nil {
			b.Fatal(err)
		}
		if fileSeq(cur.File) >= fileSeq(first.File)+benchGTIDFiles {
			break
		}
		exec1(b, c, "BEGIN NOT ATOMIC DECLARE i INT DEFAULT 0; WHILE i < 50000 DO INSERT INTO "+db+".small (a, b) VALUES (i, REPEAT('y', 60)); SET i = i + 1; END WHILE; END")
	}
	exec1(b, c, "TRUNCATE TABLE "+db+".small",
		"INSERT INTO "+db+".gtid_window VALUES ("+quoteString(first.File)+")")
	b.Logf("wrote %d binlog files of small transactions from %s in %s", benchGTIDFiles, first.File, time.Since(t0).Round(time.Millisecond))
	return first.File
}

// BenchmarkStartAtGTID times the look-up of start_at = a MariaDB GTID with
// the Gtid_list search (new) and with the scan of every event of every file
// before it (old, the oracle): for a transaction at the end of the binlog,
// and for one in the middle of a full file of small transactions (the most
// the new look-up reads). It reports seconds per look-up and the binlog's
// size.
//
//	go test -run '^$' -bench StartAtGTID -benchtime 1x ./connectors/mysql/
func BenchmarkStartAtGTID(b *testing.B) {
	s := server{"full", envOr("ETLQ_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3316")}
	c := conn(b, s)
	defer c.Close()
	window := ensureSmallTxBinlog(b, c)
	// A transaction at the end of the binlog (not its last, which the
	// binlog's end would follow when others write meanwhile).
	mark := fmt.Sprintf("bench_startat_gtid_mark_%d", time.Now().UnixNano()%100000)
	exec1(b, c, "CREATE DATABASE "+mark, "CREATE TABLE "+mark+".t (id INT PRIMARY KEY)")
	newest := commitGTID(b, c, "INSERT INTO "+mark+".t VALUES (1)")
	exec1(b, c, "DROP DATABASE "+mark)

	r, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		b.Fatal(err)
	}
	var total, size int64
	files := make([]string, r.RowNumber())
	w := -1
	for i := range files {
		files[i], _ = r.GetString(i, 0)
		n, _ := r.GetInt(i, 1)
		total += n
		if files[i] == window {
			w, size = i, n
		}
	}
	if w < 0 || w+1 >= len(files) {
		b.Fatalf("%s is not a closed binlog file of %v", window, files)
	}
	// The middle of the window's first file: its domain-0 sequence numbers
	// lie between its Gtid_list and the next file's.
	f := &gtidFinder{c: c, files: files, lists: make([]gtidState, len(files))}
	lo, err := f.list(w)
	if err != nil {
		b.Fatal(err)
	}
	hi, err := f.list(w + 1)
	if err != nil {
		b.Fatal(err)
	}
	middle := mariaGTID{0, hi[0].server, (lo[0].seq + hi[0].seq + 1) / 2}.String()
	b.Logf("binlog: %d files, %d MiB; %s (%d MiB, %d transactions) holds %s; newest transaction %s",
		len(files), total>>20, window, size>>20, hi[0].seq-lo[0].seq, middle, newest)

	cases := []struct{ name, gtid string }{{"newest", newest}, {"mid-file", middle}}
	took := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, tc := range cases {
			t0 := time.Now()
			got, err := findGTIDPosition(c, files, tc.gtid)
			took["new-"+tc.name] += time.Since(t0)
			if err != nil {
				b.Fatalf("%s: %v", tc.gtid, err)
			}
			t0 = time.Now()
			want, err := oracleGTIDPosition(c, files, tc.gtid)
			took["old-"+tc.name] += time.Since(t0)
			if err != nil {
				b.Fatalf("oracle, %s: %v", tc.gtid, err)
			}
			if got != want {
				b.Fatalf("%s: %s, the oracle gives %s", tc.gtid, got, want)
			}
		}
	}
	b.StopTimer()
	for k, d := range took {
		b.ReportMetric(d.Seconds()/float64(b.N), k+"-s")
	}
	b.ReportMetric(float64(total>>20), "binlog-MiB")
}
