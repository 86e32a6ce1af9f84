package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

func TestKeyOrdOrderAndRoundTrip(t *testing.T) {
	sc := &column{Kind: kInt64}
	uc := &column{Kind: kUint64}
	signed := []string{"-9223372036854775808", "-5", "0", "7", "9223372036854775807"}
	for i, s := range signed {
		o, ok := keyOrd(sc, s)
		if !ok || ordLiteral(sc, o) != s {
			t.Fatalf("signed %s: ord %d ok %v literal %s", s, o, ok, ordLiteral(sc, o))
		}
		if i > 0 {
			p, _ := keyOrd(sc, signed[i-1])
			if p >= o {
				t.Fatalf("order: %s !< %s", signed[i-1], s)
			}
		}
	}
	for _, s := range []string{"0", "1", "18446744073709551615"} {
		o, ok := keyOrd(uc, s)
		if !ok || ordLiteral(uc, o) != s {
			t.Fatalf("unsigned %s", s)
		}
	}
	if _, ok := keyOrd(sc, "x'00'"); ok {
		t.Fatal("non-integer literal accepted")
	}
}

func TestOpenGaps(t *testing.T) {
	c := &column{Kind: kInt32}
	lit := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	show := func(gs []keyGap) string {
		var parts []string
		for _, g := range gs {
			b := func(o ordBound, inf string) string {
				if o == nil {
					return inf
				}
				return ordLiteral(c, *o)
			}
			parts = append(parts, "("+b(g.lo, "-inf")+","+b(g.hi, "+inf")+"]")
		}
		return strings.Join(parts, " ")
	}
	for _, tc := range []struct {
		done [][2]string
		want string
	}{
		{nil, "(-inf,+inf]"},
		{[][2]string{{"", "10"}}, "(10,+inf]"},
		{[][2]string{{"10", ""}}, "(-inf,10]"},
		{[][2]string{{"", ""}}, ""},
		{[][2]string{{"30", "40"}, {"-5", "10"}}, "(-inf,-5] (10,30] (40,+inf]"},
		{[][2]string{{"", "10"}, {"10", "20"}, {"25", ""}}, "(20,25]"},
		{[][2]string{{"0", "50"}, {"10", "20"}}, "(-inf,0] (50,+inf]"},
	} {
		var done []keyRange
		for _, d := range tc.done {
			done = append(done, keyRange{Lo: lit(d[0]), Hi: lit(d[1])})
		}
		gs, ok := openGaps(c, done)
		if !ok || show(gs) != tc.want {
			t.Errorf("done %v: gaps %q (ok %v), want %q", tc.done, show(gs), ok, tc.want)
		}
	}
	if _, ok := openGaps(c, []keyRange{{Lo: []string{"_utf8mb4 X'41' COLLATE x"}}}); ok {
		t.Error("string bound accepted")
	}
}

func TestFastTextParsersMatchSlowOnes(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 20000; i++ {
		scale := r.Intn(8)
		digits := 1 + r.Intn(22)
		var b strings.Builder
		if r.Intn(2) == 0 {
			b.WriteByte('-')
		}
		for d := 0; d < digits; d++ {
			b.WriteByte(byte('0' + r.Intn(10)))
		}
		if f := r.Intn(scale + 2); f > 0 {
			b.WriteByte('.')
			for d := 0; d < f; d++ {
				b.WriteByte(byte('0' + r.Intn(10)))
			}
		}
		s := b.String()
		u1, n1, ok1 := decimalFast([]byte(s), scale)
		u2, n2, big, ok2 := decimalText([]byte(s), scale)
		if ok1 && (!ok2 || dec128(u1, n1, nil) != dec128(u2, n2, big)) {
			t.Fatalf("decimal %q scale %d: fast %d %v, slow %d %v %v %v", s, scale, u1, n1, u2, n2, big, ok2)
		}
		if digits <= 18 {
			n, ok := atoi64([]byte(s[:min(len(s), 18)]))
			if !ok && !strings.Contains(s[:min(len(s), 18)], ".") {
				t.Fatalf("atoi64 %q", s)
			}
			_ = n
		}
	}
	for _, s := range []string{"0", "-1", "127", "-9223372036854775808", "9223372036854775807", "123456789012345678"} {
		n, ok := atoi64([]byte(s))
		if !ok || fmt.Sprint(n) != s {
			t.Errorf("atoi64(%q) = %d %v", s, n, ok)
		}
	}
	for _, s := range []string{"", "-", "1a", "--1", "1.5"} {
		if _, ok := atoi64([]byte(s)); ok {
			t.Errorf("atoi64(%q) accepted", s)
		}
	}
	for _, s := range []string{"0", "18446744073709551615", "9999999999999999999"} {
		n, ok := atou64([]byte(s))
		if !ok || fmt.Sprint(n) != s {
			t.Errorf("atou64(%q) = %d %v", s, n, ok)
		}
	}
	if _, ok := atou64([]byte("18446744073709551616")); ok {
		t.Error("atou64 overflow accepted")
	}
}

// TestIntKeyChunks snapshots tables whose integer keys are sparse,
// clustered, at the ends of their type's range, or absent, with small
// chunks: every row arrives once, and no chunk holds more than twice
// chunk_rows rows. A stream stopped half way and resumed from its Mark
// delivers exactly the rest.
func TestIntKeyChunks(t *testing.T) {
	const chunkRows = 500
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s,
				"CREATE TABLE "+db+".clustered (id BIGINT PRIMARY KEY, v INT)",
				"CREATE TABLE "+db+".unsigned_ends (id BIGINT UNSIGNED PRIMARY KEY, v INT)",
				"CREATE TABLE "+db+".tiny (id TINYINT PRIMARY KEY, v INT)",
				"CREATE TABLE "+db+".sparse_then_dense (id INT PRIMARY KEY, v INT)",
				"CREATE TABLE "+db+".empty (id INT PRIMARY KEY, v INT)")
			var ids = map[string][]string{}
			insert := func(tbl string, keys []string) {
				ids[tbl] = append(ids[tbl], keys...)
				for lo := 0; lo < len(keys); lo += 2000 {
					var vals []string
					for _, k := range keys[lo:min(lo+2000, len(keys))] {
						vals = append(vals, "("+k+",1)")
					}
					run(t, s, "INSERT INTO "+db+"."+tbl+" VALUES "+strings.Join(vals, ","))
				}
			}
			var keys []string
			keys = append(keys, "-9223372036854775808", "-3")
			for i := 1; i <= 1500; i++ { // dense
				keys = append(keys, fmt.Sprint(i))
			}
			for i := 0; i < 300; i++ { // sparse
				keys = append(keys, fmt.Sprint(1000000+i*7919))
			}
			for i := 0; i < 3000; i++ { // dense again, far away
				keys = append(keys, fmt.Sprint(int64(1)<<50+int64(i)))
			}
			keys = append(keys, "9223372036854775807")
			insert("clustered", keys)
			keys = []string{"0", "1", "18446744073709551614", "18446744073709551615"}
			for i := 0; i < 1200; i++ {
				keys = append(keys, fmt.Sprint(uint64(1)<<63+uint64(i)*3))
			}
			insert("unsigned_ends", keys)
			keys = nil
			for i := -128; i <= 127; i++ {
				keys = append(keys, fmt.Sprint(i))
			}
			insert("tiny", keys)
			// The sample at the start sees one key in 1000, the chunk then
			// runs into 3000 consecutive keys: it stops at its LIMIT.
			keys = nil
			for i := 1; i <= 300; i++ {
				keys = append(keys, fmt.Sprint(i*1000))
			}
			for i := 0; i < 3000; i++ {
				keys = append(keys, fmt.Sprint(300001+i))
			}
			insert("sparse_then_dense", keys)

			src := newSrc(t, s, nil)
			for _, tbl := range []string{"clustered", "unsigned_ends", "tiny", "sparse_then_dense", "empty"} {
				ref := connectors.TableRef{DB: db, Table: tbl}
				cr := chunkRows
				if tbl == "tiny" {
					cr = 10
				}
				open := func(resume []byte) connectors.Stream {
					st, err := src.Open(context.Background(), connectors.StreamRequest{
						Tables:  []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotOnly}},
						Options: map[string]any{"chunk_rows": int64(cr), "snapshot_parallelism": int64(3)}, Resume: resume})
					if err != nil {
						t.Fatal(err)
					}
					return st
				}
				seen := map[string]int{}
				var done []keyRange // ranges the first run's last Mark records done
				inDone := func(k string) bool {
					v, _ := new(big.Int).SetString(k, 10)
					for _, r := range done {
						lo, hi := new(big.Int), new(big.Int)
						if r.Lo != nil {
							lo.SetString(r.Lo[0], 10)
						}
						if r.Hi != nil {
							hi.SetString(r.Hi[0], 10)
						}
						if (r.Lo == nil || v.Cmp(lo) > 0) && (r.Hi == nil || v.Cmp(hi) <= 0) {
							return true
						}
					}
					return false
				}
				resumed := false
				chunks := 0
				// readChunks reads up to stopAfter chunks (0: all) and
				// returns the last Mark's state.
				readChunks := func(st connectors.Stream, stopAfter int) []byte {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					var state []byte
					defer func() {
						// Chunks stream (their batches interleave), so
						// their size is read from the snapshotter.
						snap := st.(*stream).snap
						snap.mu.Lock()
						n := snap.biggest
						snap.mu.Unlock()
						if n > 2*cr {
							t.Errorf("%s: a chunk of %d rows (chunk_rows %d)", tbl, n, cr)
						}
					}()
					for n := 0; stopAfter == 0 || n < stopAfter; {
						b, err := st.Next(ctx)
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							t.Fatalf("%s: next: %v", tbl, err)
						}
						for _, r := range batchRows(b) {
							seen[r["id"]]++
							if resumed && inDone(r["id"]) {
								t.Errorf("%s: key %s read again after the resume, though its range was done", tbl, r["id"])
							}
						}
						if b.Mark != nil {
							state = b.Mark.Bytes()
							chunks++
							n++
						}
						b.Release()
					}
					return state
				}
				st := open(nil)
				state := readChunks(st, 3)
				st.Close()
				var ms markState
				if err := json.Unmarshal(state, &ms); err != nil {
					t.Fatal(err)
				}
				// Chunks stream: batches of chunks not done yet may have
				// gone out before the stop, and are read again after the
				// resume — but no key of a range recorded done is.
				maxSeen := 1
				if snap := ms.Snapshot[ref.String()]; snap != nil && !snap.Done {
					done, resumed, maxSeen = snap.Ranges, true, 2
					st = open(state)
					readChunks(st, 0)
					st.Close()
				}
				for _, k := range ids[tbl] {
					if seen[k] < 1 || seen[k] > maxSeen {
						t.Errorf("%s: key %s seen %d times", tbl, k, seen[k])
					}
				}
				if len(seen) != len(ids[tbl]) {
					t.Errorf("%s: %d keys, want %d", tbl, len(seen), len(ids[tbl]))
				}
				t.Logf("%s: %d rows in %d chunks", tbl, len(ids[tbl]), chunks)
			}
		})
	}
}

// TestSnapshotWithoutPreparedStatements: a server that refuses to prepare
// statements (here max_prepared_stmt_count = 0, on a private server) still
// gets its snapshot read, with the text protocol.
func TestSnapshotWithoutPreparedStatements(t *testing.T) {
	testenv.MySQLDSN(t) // the shared server answering means the binaries are here
	dsn, _ := privateMariaDB(t)
	s := server{"private", dsn}
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v DOUBLE, d DATETIME(6))",
		fmt.Sprintf("INSERT INTO %s.t SELECT seq, seq / 4, '2024-01-02 03:04:05.123456' FROM %s.seq_1_to_3000", db, db),
		"SET GLOBAL max_prepared_stmt_count = 0")
	src := newSrc(t, s, nil)
	st, err := src.Open(context.Background(), connectors.StreamRequest{
		Tables:  []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotOnly}},
		Options: map[string]any{"chunk_rows": 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, _ := drain(t, st, 30*time.Second, nil)
	if len(rows) != 3000 {
		t.Fatalf("%d rows, want 3000", len(rows))
	}
	for _, r := range rows {
		if want := fmt.Sprint(float64(atoi(r["id"])) / 4); r["v"] != want {
			t.Fatalf("row %s: v = %s, want %s", r["id"], r["v"], want)
		}
	}
	sst := st.(*stream)
	if sst.snap.binaryOK(sst.tables[0].cur) {
		t.Error("the snapshot did not switch to the text protocol")
	}
}

// TestManySmallTablesPlannedInFewQueries: the planner of many small tables
// reads their row estimates in one query and plans each table (counted,
// its key's maximum) in one more, instead of four queries a table; the
// rows, and the progress's exact counts, stay right, and a table that grew
// past chunk_rows since the count is still read whole (its chunk's LIMIT
// splits it).
func TestManySmallTablesPlannedInFewQueries(t *testing.T) {
	const tables, rows, chunkRows = 40, 300, 500
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			req := manySmallTables(t, s, tables, rows, 3*chunkRows) // t_00 larger than a chunk
			st := readTablesOnce(t, s, req, chunkRows, rows, 3*chunkRows, false)
			snap := st.(*stream).snap
			snap.mu.Lock()
			q := snap.planQueries
			snap.mu.Unlock()
			// One estimates query, one counting query per countBatch
			// small tables; the large one is counted alone and samples its
			// keys for each of its chunks.
			if want := 1 + (tables+countBatch-1)/countBatch + 1 + 4; q > want {
				t.Errorf("the planner sent %d queries for %d tables, want at most %d", q, tables, want)
			}
			t.Logf("%d tables planned with %d queries", tables, q)
		})
	}
}

// TestManyTablesChunkMarksThrottled: with many tables, chunk ends get a
// Mark at most every chunkMarkEvery (here: never but the first and the
// last), and the last Mark still records every table's snapshot done.
func TestManyTablesChunkMarksThrottled(t *testing.T) {
	defer func(n int, d time.Duration) { manyTablesMarks, chunkMarkEvery = n, d }(manyTablesMarks, chunkMarkEvery)
	manyTablesMarks, chunkMarkEvery = 8, time.Hour
	const tables = 20
	s := servers(t)[0]
	db := uniqueDB(t, s)
	var req []connectors.StreamTable
	for k := 0; k < tables; k++ {
		run(t, s, fmt.Sprintf("CREATE TABLE %s.t_%02d (id INT PRIMARY KEY, v INT)", db, k),
			fmt.Sprintf("INSERT INTO %s.t_%02d SELECT seq, seq FROM %s.seq_1_to_50", db, k, db))
		req = append(req, connectors.StreamTable{Ref: connectors.TableRef{DB: db, Table: fmt.Sprintf("t_%02d", k)}, Snapshot: connectors.SnapshotOnly})
	}
	st, err := newSrc(t, s, nil).Open(context.Background(), connectors.StreamRequest{Tables: req})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, marks := 0, 0
	var last []byte
	for {
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows += int(b.NumRows())
		if b.Mark != nil {
			marks++
			last = b.Mark.Bytes()
		}
		b.Release()
	}
	if rows != tables*50 {
		t.Fatalf("%d rows, want %d", rows, tables*50)
	}
	if marks > 3 {
		t.Errorf("%d Marks for %d one-chunk tables, want the first and the last (and the end of the run)", marks, tables)
	}
	var ms markState
	if err := json.Unmarshal(last, &ms); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < tables; k++ {
		key := fmt.Sprintf("%s.t_%02d", db, k)
		if snap := ms.Snapshot[key]; snap == nil || !snap.Done {
			t.Errorf("the last Mark does not record %s done: %+v", key, snap)
		}
	}
}

// TestSmallTablesPlannedFromEstimates: tables whose estimated rows are far
// below a chunk (trustEstimate) are planned without any query of their
// own — no COUNT(*), which walks InnoDB's whole clustered index — each
// one small chunk; a table larger than its estimate (made stale here) is
// still read whole, its chunk split at its LIMIT; every table's progress
// ends at the rows read.
func TestSmallTablesPlannedFromEstimates(t *testing.T) {
	const tables, rows, chunkRows, big = 30, 100, 1000, 2500
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			req := manySmallTables(t, s, tables, rows, big) // t_00: more than 2 × chunk_rows, its LIMIT splits it
			testHookEstimates = func(est map[*tableState]int64) {
				for ts := range est {
					if ts.ref.Table == "t_00" {
						est[ts] = 10 // stale: the table has big rows
					} else if est[ts] > 2*rows {
						// InnoDB's TABLE_ROWS is a sample: 101 for 100 rows
						// was seen (fresh-clone CI), so only a far-off figure
						// is wrong.
						t.Errorf("%s estimated at %d rows, has %d", ts.ref, est[ts], rows)
					}
				}
			}
			defer func() { testHookEstimates = nil }()
			st := readTablesOnce(t, s, req, chunkRows, rows, big, true)
			snap := st.(*stream).snap
			snap.mu.Lock()
			q, splits := snap.planQueries, snap.splits
			snap.mu.Unlock()
			// The estimates' query only.
			if q != 1 {
				t.Errorf("the planner sent %d queries for %d tables, want 1 (their estimates)", q, tables)
			}
			if splits == 0 {
				t.Error("the table larger than its estimate was not split at its chunk's LIMIT")
			}
			t.Logf("%d tables planned with %d queries, %d splits", tables, q, splits)
		})
	}
}

// manySmallTables makes tables t_00… of rows rows each, t_00 of big,
// in a database of the test's own (smallTables), snapshot only.
func manySmallTables(t *testing.T, s server, tables, rows, big int) []connectors.StreamTable {
	db := uniqueDB(t, s)
	req := smallTables(t, s, db, tables, rows, "v INT", "seq % 7", connectors.SnapshotOnly)
	run(t, s, fmt.Sprintf("INSERT INTO %s.t_00 SELECT seq, seq %% 7 FROM %s.seq_%d_to_%d", db, db, rows+1, big))
	return req
}

// readTablesOnce snapshots manySmallTables' tables and checks that every row
// was read exactly once and that each table's progress ends at its rows
// (and says done, when done is set). It returns the open stream.
func readTablesOnce(t *testing.T, s server, req []connectors.StreamTable, chunkRows, rows, big int, done bool) connectors.Stream {
	t.Helper()
	src := newSrc(t, s, nil)
	st, err := src.Open(context.Background(), connectors.StreamRequest{Tables: req,
		Options: map[string]any{"chunk_rows": int64(chunkRows), "snapshot_parallelism": int64(2)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	got, _ := drain(t, st, 60*time.Second, nil)
	if want := (len(req)-1)*rows + big; len(got) != want {
		t.Fatalf("%d rows, want %d", len(got), want)
	}
	seen := map[string]bool{}
	for _, r := range got {
		k := r["_table"] + "." + r["id"]
		if seen[k] {
			t.Fatalf("row %s read twice", k)
		}
		seen[k] = true
	}
	for _, p := range st.(*stream).Progress() {
		want := int64(rows)
		if p.Ref.Table == "t_00" {
			want = int64(big)
		}
		if p.RowsTotal != want || p.RowsDone != want || (done && !p.Done) {
			t.Errorf("%s: progress %d of %d rows (done %v), want %d of %d", p.Ref, p.RowsDone, p.RowsTotal, p.Done, want, want)
		}
	}
	return st
}
