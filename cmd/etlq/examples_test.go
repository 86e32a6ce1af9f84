package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// exampleEnv points the examples' ${…} variables at the test servers and
// gives each test its own databases: the example text is used as written,
// with shopdb, analytics and audit renamed.
type exampleEnv struct {
	t       *testing.T
	dir     string
	myDSN   string
	chDSN   string
	shopdb  string
	rename  map[string]string
	hookURL string
}

func newExampleEnv(t *testing.T) *exampleEnv {
	e := &exampleEnv{t: t, dir: t.TempDir(), myDSN: testenv.MySQLDSN(t), chDSN: testenv.ClickHouseDSN(t)}
	base := testenv.UniqueName(t)
	e.shopdb = base + "_shop"
	e.rename = map[string]string{"shopdb.": e.shopdb + ".", "analytics.": base + "_dw.", "audit.": base + "_audit."}
	my := testenv.MySQLConn(t, e.myDSN)
	ch := testenv.ClickHouseConn(t, e.chDSN)
	t.Cleanup(func() {
		my.Execute("DROP DATABASE IF EXISTS " + e.shopdb)
		for _, db := range []string{base + "_dw", base + "_audit"} {
			ch.Exec(t.Context(), "DROP DATABASE IF EXISTS "+db)
		}
	})
	// The demo's writer creates and seeds the shop schema.
	cmd := exec.Command("go", "run", "../../scripts/shopwriter", "-dsn", e.myDSN, "-db", e.shopdb, "-seed", "300", "-rate", "0", "-rand", "7")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shopwriter: %v\n%s", err, out)
	}
	return e
}

// file writes the example with the test's database names and returns its path.
func (e *exampleEnv) file(name string) string {
	src, err := os.ReadFile(filepath.Join("../../examples", name))
	if err != nil {
		e.t.Fatal(err)
	}
	text := string(src)
	for from, to := range e.rename {
		text = strings.ReplaceAll(text, "."+from, "."+to)
		text = strings.ReplaceAll(text, " "+from, " "+to)
	}
	// A replica server_id of the test's own: the examples' (4242 in
	// shop.etl, else derived from the source name "shop") are those of a
	// `make demo` that may be running against the same server, and of the
	// other example tests; a second connection with the same id makes the
	// server drop the first.
	id := fmt.Sprintf("server_id = %d", 100000+rand.IntN(1<<30))
	text = strings.ReplaceAll(text, "server_id = 4242", id)
	text = strings.ReplaceAll(text, "'${ETLQ_DEMO_MYSQL_DSN}';", "'${ETLQ_DEMO_MYSQL_DSN}' WITH ("+id+");")
	if !strings.Contains(text, id) {
		e.t.Fatalf("%s: no CREATE SOURCE to give a server_id of its own:\n%s", name, text)
	}
	// Files the examples write (audit.etl's log) go to the test's directory.
	text = strings.ReplaceAll(text, "'/var/log/etlq/", "'"+e.dir+"/")
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *exampleEnv) etlq(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(etlqBin, args...)
	cmd.Env = append(os.Environ(), "ETLQ_DEMO_MYSQL_DSN="+e.myDSN, "ETLQ_DEMO_CLICKHOUSE_DSN="+e.chDSN, "ETLQ_DEMO_HOOK_URL="+e.hookURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("etlq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestExamplesCheckAndPlan: every file in examples/ checks against live
// schemas and plans, as written.
func TestExamplesCheckAndPlan(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	e.hookURL = "http://127.0.0.1:1/hook"
	files, _ := filepath.Glob("../../examples/*.etl")
	if len(files) < 4 {
		t.Fatalf("examples/ has %d files, want one per use case", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			path := e.file(name)
			e.etlq("check", path)
			out := e.etlq("plan", path)
			if !strings.Contains(out, "pipeline ") {
				t.Errorf("plan shows no pipeline:\n%s", out)
			}
			if u, err := url.Parse(e.myDSN); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && strings.Contains(out, pw) {
					t.Errorf("plan shows the source password:\n%s", out)
				}
			}
		})
	}
}

// TestExampleShop: the OLTP → OLAP example makes ClickHouse equal to the
// source, after the snapshot and after live changes.
func TestExampleShop(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	path := e.file("shop.etl")
	state := filepath.Join(e.dir, "state")
	e.etlq("apply", "--once", "--state-dir", state, path)
	my := testenv.MySQLConn(t, e.myDSN)
	ch := testenv.ClickHouseConn(t, e.chDSN)
	dw := e.rename["analytics."]
	compare := func() {
		want := myRows(t, my, "SELECT id, status, CAST(amount * 100 AS CHAR), IFNULL(JSON_VALUE(note, '$.channel'), 'NULL') FROM "+e.shopdb+".orders WHERE status <> 'cancelled' ORDER BY id")
		got := chRows(t, ch, "SELECT toString(id), status, toString(amount_cents), ifNull(channel, 'NULL') FROM "+dw+"orders_current ORDER BY id")
		diffRows(t, want, got)
		want = myRows(t, my, "SELECT id, name, LOWER(email), country FROM "+e.shopdb+".customers ORDER BY id")
		got = chRows(t, ch, "SELECT toString(id), name, email, country FROM "+dw+"customers_current ORDER BY id")
		diffRows(t, want, got)
	}
	compare()
	cmd := exec.Command("go", "run", "../../scripts/shopwriter", "-dsn", e.myDSN, "-db", e.shopdb, "-seed", "0", "-rate", "400", "-duration", "3s", "-rand", "11")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shopwriter: %v\n%s", err, out)
	}
	e.etlq("apply", "--once", "--state-dir", state, path)
	compare()
}

// TestExampleValidation: rows breaking a rule land in the dead-letter file
// with the reason; the others reach ClickHouse.
func TestExampleValidation(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	path := e.file("validation.etl")
	state := filepath.Join(e.dir, "state")
	my := testenv.MySQLConn(t, e.myDSN)
	myExec(t, my,
		"INSERT INTO "+e.shopdb+".order_items (order_id, sku, qty, price) VALUES (1, 'SKU-OK1', 0, 5.00), (1, 'SKU-OK2', 2, -1.00), (1, 'bad', 1, 1.00), (1, 'SKU-OK3', 3, 2.50)")
	e.etlq("apply", "--once", "--state-dir", state, path)
	data, err := os.ReadFile(filepath.Join(state, "deadletter", "items_checked.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var d struct{ Reason string }
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("dead letter %q: %v", line, err)
		}
		reasons = append(reasons, d.Reason)
	}
	got := strings.Join(reasons, "; ")
	for _, want := range []string{"quantity out of range", "price must be positive", "malformed sku"} {
		if !strings.Contains(got, want) {
			t.Errorf("dead letters %q lack %q", got, want)
		}
	}
	ch := testenv.ClickHouseConn(t, e.chDSN)
	want := myRows(t, my, "SELECT id, UPPER(sku), qty, CAST(qty * price AS CHAR) FROM "+e.shopdb+".order_items WHERE qty BETWEEN 1 AND 100 AND price > 0 AND sku LIKE 'SKU-%' ORDER BY id")
	rows := chRows(t, ch, "SELECT toString(id), sku, toString(qty), toString(line_total) FROM "+e.rename["analytics."]+"order_items_current ORDER BY id")
	diffRows(t, want, rows)
	// The demo's own order items (shopwriter's) keep the rules: the example
	// run on the demo database lets them flow on (every one of them was a
	// dead letter, "malformed sku", and the target held the one row inserted
	// above).
	if len(rows) < 2 {
		t.Errorf("only %d rows reached the target: the demo's items break the example's rules (%d dead letters)", len(rows), len(reasons))
	}
}

// TestExampleAudit: the changelog keeps every change with the old values.
func TestExampleAudit(t *testing.T) {
	t.Parallel()
	e := newExampleEnv(t)
	path := e.file("audit.etl")
	state := filepath.Join(e.dir, "state")
	e.etlq("apply", "--once", "--state-dir", state, path) // SNAPSHOT never: records where the binlog is
	my := testenv.MySQLConn(t, e.myDSN)
	myExec(t, my,
		"UPDATE "+e.shopdb+".orders SET status = 'shipped', amount = 1.00 WHERE id = 1",
		"DELETE FROM "+e.shopdb+".orders WHERE id = 2",
		"INSERT INTO "+e.shopdb+".orders (id, customer, status, amount, created_at) VALUES (100000, 'zed', 'new', 9.99, '2026-03-04 05:06:07')",
	)
	e.etlq("apply", "--once", "--state-dir", state, path)
	ch := testenv.ClickHouseConn(t, e.chDSN)
	rows := chRows(t, ch, "SELECT _op, toString(id), status, toString(amount), ifNull(_before_status, 'NULL') FROM "+e.rename["audit."]+"orders_changes ORDER BY _version")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "update|1|shipped|1.00|") || !strings.HasPrefix(rows[1], "delete|2|") || rows[2] != "insert|100000|new|9.99|NULL" {
		t.Errorf("changelog rows:\n%s\nwant: update of 1, delete of 2, insert of 100000", strings.Join(rows, "\n"))
	}
	if strings.HasSuffix(rows[0], "|NULL") || strings.HasSuffix(rows[0], "|shipped") {
		t.Errorf("update row lacks the old status: %s", rows[0])
	}
	// The same changes as JSON lines, in changelog mode too.
	var got []string
	for _, l := range readLines(t, filepath.Join(e.dir, "orders_audit.jsonl")) {
		_, row := jsonKeys(t, l)
		got = append(got, fmt.Sprintf("%v|%v|%v|%v|%v", row["_op"], row["id"], row["status"], row["cents"], row["_before_status"]))
	}
	if g := strings.Join(got, "\n"); !strings.HasPrefix(g, "update|1|shipped|100.00|") || strings.HasPrefix(g, "update|1|shipped|100.00|<nil>") ||
		!strings.Contains(g, "\ndelete|2|") || !strings.HasSuffix(g, "\ninsert|100000|new|999.00|<nil>") || len(got) != 3 {
		t.Errorf("orders_audit.jsonl:\n%s\nwant: update of 1 with its old status, delete of 2, insert of 100000", g)
	}
}

// TestExampleNotify: orders that move to 'paid' are posted as Canal-JSON.
func TestExampleNotify(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	e := newExampleEnv(t)
	e.hookURL = srv.URL + "/paid"
	path := e.file("notify.etl")
	state := filepath.Join(e.dir, "state")
	e.etlq("apply", "--once", "--state-dir", state, path)
	my := testenv.MySQLConn(t, e.myDSN)
	myExec(t, my,
		"UPDATE "+e.shopdb+".orders SET status = 'new' WHERE id IN (3, 4)",
		"UPDATE "+e.shopdb+".orders SET status = 'paid' WHERE id = 3",
		"UPDATE "+e.shopdb+".orders SET amount = amount + 1 WHERE id = 3",
		"UPDATE "+e.shopdb+".orders SET status = 'shipped' WHERE id = 4",
	)
	e.etlq("apply", "--once", "--state-dir", state, path)
	mu.Lock()
	all := strings.Join(bodies, "\n")
	mu.Unlock()
	if !strings.Contains(all, `"type":"UPDATE"`) || !strings.Contains(all, `"old_status":"new"`) {
		t.Fatalf("want one Canal-JSON UPDATE for order 3 with old_status new, got:\n%s", all)
	}
	if n := strings.Count(all, `"type":"UPDATE"`); n != 1 {
		t.Errorf("want exactly one notified row, got %d:\n%s", n, all)
	}
}
