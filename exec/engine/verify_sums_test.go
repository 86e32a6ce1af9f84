package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/exec/engine"
)

// The in-server path of verify (verify_sums.go) over in-memory sides that
// compute the range checksums the way the servers do: a count and the XOR
// of a hash of each row's text, the text made of the compared columns'
// values in order.

// sumHash is the hash of a row's values.
func sumHash(vals []string) uint64 { return xxhash.Sum64String(strings.Join(vals, "\x00")) }

// sumCalls records what a side was asked.
type sumCalls struct {
	mu     sync.Mutex
	sums   int                   // RangeSums calls
	leaves []connectors.KeyRange // RangeRows ranges
	cols   [][]connectors.SumColumn
	fail   string // the call that fails: "bounds", "sums", "rows"
}

func (c *sumCalls) call(what string, cols []connectors.SumColumn, r *connectors.KeyRange) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if what == "sums" {
		c.sums++
	}
	if r != nil {
		c.leaves = append(c.leaves, *r)
	}
	if cols != nil {
		c.cols = append(c.cols, cols)
	}
	if c.fail == what {
		return errors.New(what + " failed")
	}
	return nil
}

// rangeSums reduces rows (key → hash) to the sums of ranges.
func rangeSums(rows map[int64]uint64, ranges []connectors.KeyRange) []connectors.RangeSum {
	out := make([]connectors.RangeSum, len(ranges))
	for k, h := range rows {
		for i, r := range ranges {
			if k < r.Lo || k > r.Hi {
				continue
			}
			s := &out[i]
			if s.Rows == 0 || k < s.Min {
				s.Min = k
			}
			if s.Rows == 0 || k > s.Max {
				s.Max = k
			}
			s.Rows++
			s.Hash ^= h
		}
	}
	return out
}

func inRange(rows map[int64]uint64, r connectors.KeyRange) map[int64]uint64 {
	out := map[int64]uint64{}
	for k, h := range rows {
		if k >= r.Lo && k <= r.Hi {
			out[k] = h
		}
	}
	return out
}

// sumSource is a verifySource that computes checksums (connectors.SumSource).
type sumSource struct {
	*verifySource
	sumCalls
}

func (s *sumSource) hashes(t connectors.TableRef, key string, cols []connectors.SumColumn) (map[int64]uint64, error) {
	if t.String() != "shopdb.orders" || key != "id" {
		return nil, fmt.Errorf("asked for %s by %s", t, key)
	}
	index := map[string]int{"id": 0, "status": 1, "qty": 2}
	out := map[int64]uint64{}
	for _, r := range s.rows {
		var vals []string
		for _, c := range cols {
			vals = append(vals, fmt.Sprint(r[index[c.Name]]))
		}
		out[r[0].(int64)] = sumHash(vals)
	}
	return out, nil
}

func (s *sumSource) ChunkBounds(_ context.Context, t connectors.TableRef, key string, every int) ([]int64, error) {
	if err := s.call("bounds", nil, nil); err != nil {
		return nil, err
	}
	rows, err := s.hashes(t, key, nil)
	if err != nil {
		return nil, err
	}
	keys := make([]int64, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var out []int64
	for i := every; i < len(keys); i += every {
		out = append(out, keys[i])
	}
	return out, nil
}

func (s *sumSource) RangeSums(_ context.Context, t connectors.TableRef, key string, cols []connectors.SumColumn, ranges []connectors.KeyRange) ([]connectors.RangeSum, error) {
	if err := s.call("sums", cols, nil); err != nil {
		return nil, err
	}
	rows, err := s.hashes(t, key, cols)
	if err != nil {
		return nil, err
	}
	return rangeSums(rows, ranges), nil
}

func (s *sumSource) RangeRows(_ context.Context, t connectors.TableRef, key string, cols []connectors.SumColumn, r connectors.KeyRange) (map[int64]uint64, error) {
	if err := s.call("rows", cols, &r); err != nil {
		return nil, err
	}
	rows, err := s.hashes(t, key, cols)
	if err != nil {
		return nil, err
	}
	return inRange(rows, r), nil
}

// sumSink is a verifySink whose target computes checksums
// (connectors.SumTarget), or refuses to for the reason why.
type sumSink struct {
	*verifySink
	calls *sumCalls
	why   string
}

func (s *sumSink) OpenVerify(ctx context.Context, t connectors.Target, ignore []string) (connectors.VerifyTarget, error) {
	vt, err := s.verifySink.OpenVerify(ctx, t, ignore)
	if err != nil {
		return nil, err
	}
	return &sumTarget{verifyTarget: vt.(*verifyTarget), calls: s.calls, why: s.why}, nil
}

type sumTarget struct {
	*verifyTarget
	calls *sumCalls
	why   string
}

// BatchRows leaves the ignored columns out of the row texts, as the
// ClickHouse target does.
func (t *sumTarget) BatchRows(b *exec.Batch, fn func(key, row string) error) error {
	return t.verifyTarget.BatchRows(b, func(key, row string) error {
		var kept []string
		for _, f := range strings.Fields(row) {
			n, _, _ := strings.Cut(f, "=")
			if !slices.Contains(t.s.ignore, n) {
				kept = append(kept, f)
			}
		}
		return fn(key, strings.Join(kept, " "))
	})
}

func (t *sumTarget) SumSupported(key string, cols []connectors.SumColumn) string {
	if key != "order_id" {
		return "asked for key " + key
	}
	return t.why
}

// hashes parses the table's row texts ("name=value …").
func (t *sumTarget) hashes(key string, cols []connectors.SumColumn) (map[int64]uint64, error) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	out := map[int64]uint64{}
	for k, row := range t.s.table {
		vals := map[string]string{}
		for _, f := range strings.Fields(row) {
			n, v, _ := strings.Cut(f, "=")
			vals[n] = v
		}
		id, err := strconv.ParseInt(vals[key], 10, 64)
		if err != nil || strconv.FormatInt(id, 10) != k {
			return nil, fmt.Errorf("row %q of key %s: no key %s", row, k, key)
		}
		var vs []string
		for _, c := range cols {
			vs = append(vs, vals[c.Name])
		}
		out[id] = sumHash(vs)
	}
	return out, nil
}

func (t *sumTarget) RangeSums(_ context.Context, key string, cols []connectors.SumColumn, ranges []connectors.KeyRange) ([]connectors.RangeSum, error) {
	if err := t.calls.call("sums", cols, nil); err != nil {
		return nil, err
	}
	rows, err := t.hashes(key, cols)
	if err != nil {
		return nil, err
	}
	return rangeSums(rows, ranges), nil
}

func (t *sumTarget) RangeRows(_ context.Context, key string, cols []connectors.SumColumn, r connectors.KeyRange) (map[int64]uint64, error) {
	if err := t.calls.call("rows", cols, &r); err != nil {
		return nil, err
	}
	rows, err := t.hashes(key, cols)
	if err != nil {
		return nil, err
	}
	return inRange(rows, r), nil
}

const sumPipeline = `CREATE PIPELINE orders
  FROM binlog shop.shopdb.orders
  TRANSFORM id AS order_id, status, qty, _op AS op
  INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)
  WITH (chunk_rows = 500);
`

// sumSides returns a source of keys 1..n and a target that holds the same
// rows but for: key 10 changed, keys 1500..1599 missing, keys -3, 700 and
// 5000..5099 only in the target.
func sumSides(mem memory.Allocator, n int) (*sumSource, *sumSink) {
	src := &sumSource{verifySource: &verifySource{source: source{mem: mem}, at: 5}}
	snk := &sumSink{verifySink: &verifySink{maxVer: 700, table: map[string]string{}}, calls: &sumCalls{}}
	text := func(id int64, status string) string {
		return fmt.Sprintf("order_id=%d status=%s qty=%d", id, status, id%7)
	}
	for id := int64(1); id <= int64(n); id++ {
		if id != 700 {
			src.rows = append(src.rows, []any{id, "new", int(id % 7)})
		}
		switch {
		case id == 10:
			snk.table["10"] = text(id, "paid")
		case id >= 1500 && id < 1600:
		default:
			snk.table[strconv.FormatInt(id, 10)] = text(id, "new")
		}
	}
	snk.table["-3"] = text(-3, "new")
	for id := int64(5000); id < 5100; id++ {
		snk.table[strconv.FormatInt(id, 10)] = text(id, "new")
	}
	return src, snk
}

// TestVerifyInServer: where every compared output passes a source column
// through, verify compares checksums computed by both sides: chunks of
// chunk_rows source rows, a differing chunk bisected by key until its
// ranges hold at most 64 rows on either side, whose rows are compared by
// key. It finds the missing, extra and changed keys (also in a half only
// one side holds rows in, and below the source's smallest key), counts
// as differing the chunks holding a differing source key (chunk 1 holds
// only the extra key 700, so it does not count), the
// columns compared on each side by their own names (metadata left out),
// and a repair leaves a target that verifies clean.
func TestVerifyInServer(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src, snk := sumSides(mem, 2000)
	useVerifyConnectors(src, snk)
	p := plan(t, newCatalog(t, "orders"), sumPipeline)
	dir := t.TempDir()
	writeCheckpoint(t, dir, `{"pos":9}`)
	opts := engine.VerifyOptions{StateDir: dir, Alloc: mem}
	res, err := engine.Verify(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.Path != "in-server" || r.Fallback != "" || r.Chunks != 4 || r.SourceRows != 1999 || r.TargetRows != 2001 ||
		r.Missing != 100 || r.Extra != 102 || r.Changed != 1 || r.Differing != 3 || r.Rechecked != 203 || r.Unconfirmed != "" {
		t.Fatalf("result: %+v", r)
	}
	if len(r.Diffs) != 10 || r.Diffs[0] != (engine.VerifyDiff{Key: "-3", Target: "order_id=-3 status=new qty=-3"}) ||
		r.Diffs[1] != (engine.VerifyDiff{Key: "10", Source: "order_id=10 status=new qty=3", Target: "order_id=10 status=paid qty=3"}) ||
		r.Diffs[2] != (engine.VerifyDiff{Key: "1500", Source: "order_id=1500 status=new qty=2"}) {
		t.Errorf("diffs %+v", r.Diffs)
	}
	wantSrc := []connectors.SumColumn{{Name: "id", Kind: "int"}, {Name: "status", Kind: "string"}, {Name: "qty", Kind: "int"}}
	wantTgt := []connectors.SumColumn{{Name: "order_id", Kind: "int"}, {Name: "status", Kind: "string"}, {Name: "qty", Kind: "int"}}
	if got := fmt.Sprint(src.cols[0]); got != fmt.Sprint(wantSrc) {
		t.Errorf("source columns %s", got)
	}
	if got := fmt.Sprint(snk.calls.cols[0]); got != fmt.Sprint(wantTgt) {
		t.Errorf("target columns %s", got)
	}
	// The bisection: every range compared row by row holds at most 64
	// rows of either side, and together they hold the differing keys
	// and few others.
	srcRows, _ := src.hashes(connectors.TableRef{DB: "shopdb", Table: "orders"}, "id", nil)
	tgtRows := map[int64]uint64{}
	for k := range snk.table {
		id, _ := strconv.ParseInt(k, 10, 64)
		tgtRows[id] = 0
	}
	if len(src.leaves) == 0 || len(src.leaves) != len(snk.calls.leaves) {
		t.Fatalf("row comparisons: %d at the source, %d at the target", len(src.leaves), len(snk.calls.leaves))
	}
	read := 0
	for _, l := range src.leaves {
		ns, nt := len(inRange(srcRows, l)), len(inRange(tgtRows, l))
		if max(ns, nt) > 64 {
			t.Errorf("range %+v compared row by row holds %d source and %d target rows", l, ns, nt)
		}
		read += max(ns, nt)
	}
	if read > 203+4*64 {
		t.Errorf("the bisection compared %d rows row by row for 203 differing keys", read)
	}

	opts.Repair = true
	res, err = engine.Verify(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Repaired != 203 || r.Differences() != 0 || r.Path != "in-server" || r.TargetRows != 1999 {
		t.Errorf("after the repair: %+v", r)
	}
}

// TestVerifyInServerErrors: a side that fails to compute is an error of
// the pipeline, reported in its result (the other pipelines are still
// verified).
func TestVerifyInServerErrors(t *testing.T) {
	for _, what := range []string{"bounds", "sums", "rows"} {
		t.Run(what, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			src, snk := sumSides(mem, 300)
			src.fail = what
			useVerifyConnectors(src, snk)
			p := plan(t, newCatalog(t, "orders"), sumPipeline)
			res, err := engine.Verify(context.Background(), p, engine.VerifyOptions{Alloc: mem})
			if err != nil || len(res) != 1 || res[0].Error != what+" failed" {
				t.Errorf("got %v %+v", err, res)
			}
		})
	}
	t.Run("target", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		src, snk := sumSides(mem, 300)
		snk.calls.fail = "rows"
		useVerifyConnectors(src, snk)
		p := plan(t, newCatalog(t, "orders"), sumPipeline)
		if res, err := engine.Verify(context.Background(), p, engine.VerifyOptions{Alloc: mem}); err != nil || len(res) != 1 || !strings.Contains(res[0].Error, "rows failed") {
			t.Errorf("got %v %+v", err, res)
		}
	})
}

// TestVerifyInServerFallback: a pipeline whose comparison the servers
// cannot compute is streamed through etlq, and the result says why.
func TestVerifyInServerFallback(t *testing.T) {
	cat := newCatalog(t, "orders", "orders_2024")
	cat["shopdb.things"] = &connectors.TableSchema{Ref: connectors.TableRef{DB: "shopdb", Table: "things"}, PrimaryKey: []string{"id"}, Fields: []arrow.Field{
		field(t, "id", "bigint(20) unsigned", false, 1),
		field(t, "code", "varchar(20)", false, 0),
		field(t, "n", "bigint(20)", false, 0),
		field(t, "doc", "json", true, 0),
	}}
	for _, c := range []struct {
		name, etl, why string
		plain          bool // the sides cannot compute checksums at all
		stream         bool
	}{
		{name: "source", plain: true, why: "the source cannot compute checksums",
			etl: "FROM binlog shop.shopdb.orders TRANSFORM id AS order_id, status INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)"},
		{name: "stream", stream: true, why: "--stream asked for it",
			etl: "FROM binlog shop.shopdb.orders TRANSFORM id AS order_id, status INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)"},
		{name: "computed", why: "output status is computed",
			etl: "FROM binlog shop.shopdb.orders TRANSFORM id AS order_id, upper(status) AS status INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)"},
		{name: "where", why: "the pipeline has a WHERE",
			etl: "FROM binlog shop.shopdb.orders WHERE qty > 0 TRANSFORM id AS order_id INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)"},
		{name: "tables", why: "the pipeline reads several tables",
			etl: "FROM binlog shop.shopdb.orders* TRANSFORM id AS order_id INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id) WITH (key_unique_across_tables = true)"},
		{name: "two keys", why: "the key is not one column",
			etl: "FROM binlog shop.shopdb.things TRANSFORM n AS order_id, code INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id, code)"},
		{name: "string key", why: "the key code is not a signed integer",
			etl: "FROM binlog shop.shopdb.things TRANSFORM code AS order_id, n INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)"},
		{name: "unsigned key", why: "the key id is not a signed integer",
			etl: "FROM binlog shop.shopdb.things TRANSFORM id AS order_id INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)"},
		{name: "json", why: "column doc (utf8) has no checksum text shared by both servers",
			etl: "FROM binlog shop.shopdb.things TRANSFORM n AS order_id, doc INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)"},
		{name: "target", why: "the target cannot say",
			etl: "FROM binlog shop.shopdb.orders TRANSFORM id AS order_id, status INTO clickhouse dw.analytics.orders MODE upsert KEY (order_id)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			src, snk := sumSides(mem, 0)
			src.rows = [][]any{{int64(1), "new", 1}}
			if c.name == "target" {
				snk.why = "the target cannot say"
			}
			var s connectors.Source = src
			if c.plain {
				s = src.verifySource
			}
			useVerifyConnectors(s, snk)
			p := plan(t, cat, "CREATE PIPELINE orders "+c.etl+";\n")
			res, err := engine.Verify(context.Background(), p, engine.VerifyOptions{Alloc: mem, Stream: c.stream})
			if err != nil {
				t.Fatal(err)
			}
			if r := res[0]; r.Path != "streaming" || !strings.Contains(r.Fallback, c.why) {
				t.Errorf("result %+v, want streaming because %q", r, c.why)
			}
			if src.sums != 0 || snk.calls.sums != 0 {
				t.Errorf("checksums computed on a streamed pipeline")
			}
		})
	}
}

// TestVerifyChangelog: a changelog target is compared through etlq (the
// sink replays its changes to the live rows); its differences are
// reported but never repaired, since a changelog records what happened.
// A changelog with a WHERE, or without a key, cannot be verified.
func TestVerifyChangelog(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src, snk := sumSides(mem, 0)
	src.rows = [][]any{{int64(1), "new", 1}, {int64(2), "paid", 2}, {int64(3), "new", 3}}
	snk.table = map[string]string{"1": "id=1 status=new qty=1", "2": "id=2 status=new qty=2", "4": "id=4 status=new qty=4"}
	useVerifyConnectors(src, snk)
	cat := newCatalog(t, "orders")
	cat["shopdb.nokey"] = &connectors.TableSchema{Ref: connectors.TableRef{DB: "shopdb", Table: "nokey"}, Fields: ordersSchema(t, connectors.TableRef{}).Fields}
	p := plan(t, cat, `CREATE PIPELINE log
  FROM binlog shop.shopdb.orders
  TRANSFORM id, status, qty
  INTO clickhouse dw.analytics.log MODE changelog;
CREATE PIPELINE filtered
  FROM binlog shop.shopdb.orders
  WHERE qty > 1
  TRANSFORM id, status, qty
  INTO clickhouse dw.analytics.filtered MODE changelog;
CREATE PIPELINE keyless
  FROM binlog shop.shopdb.nokey
  TRANSFORM id, status
  INTO clickhouse dw.analytics.keyless MODE changelog;
`)
	dir := t.TempDir()
	writeCheckpoint(t, dir, `{"pos":9}`)
	// Unnamed, the pipelines that cannot be verified are left out, each
	// with why.
	res, err := engine.Verify(context.Background(), p, engine.VerifyOptions{StateDir: dir, Alloc: mem, Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[1].Pipeline != "filtered" || !strings.Contains(res[1].NotVerified, "without WHERE only") ||
		res[2].Pipeline != "keyless" || !strings.Contains(res[2].NotVerified, "this one has none") {
		t.Fatalf("results: %+v", res)
	}
	r := res[0]
	if r.Pipeline != "log" || r.Path != "streaming" || r.Fallback != "a changelog target is replayed by etlq" ||
		r.Missing != 1 || r.Extra != 1 || r.Changed != 1 || r.Repaired != 0 || !strings.Contains(r.RepairSkipped, "a changelog target is not repaired") {
		t.Errorf("result %+v", r)
	}
	if len(snk.table) != 3 || snk.table["2"] != "id=2 status=new qty=2" {
		t.Errorf("the changelog was written to: %v", snk.table)
	}
	if src.sums != 0 || snk.calls.sums != 0 {
		t.Errorf("checksums computed for a changelog")
	}
	for name, want := range map[string]string{
		"filtered": "pipeline filtered: verify compares a changelog pipeline without WHERE only",
		"keyless":  "pipeline keyless: verify replays a changelog by its key, and this one has none",
	} {
		if _, err := engine.Verify(context.Background(), p, engine.VerifyOptions{Alloc: mem, Pipelines: []string{name}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
