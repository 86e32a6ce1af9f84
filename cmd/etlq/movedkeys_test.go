package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpsertMovedKeysTombstones: in one batch, updates that keep their key
// and updates that change it, interleaved. Only the latter leave a
// tombstone of the old key, carrying the old key and the row's new values
// (only the key's before values are read, so that a source need not
// decode whole before images; the engine compares the keys over the
// before image first, then projects only the moved rows: a misaligned
// projection would give wrong keys or values).
func TestUpsertMovedKeysTombstones(t *testing.T) {
	t.Parallel()
	passFixture(t, `CREATE SOURCE shop FROM mysql 'mysql://root@127.0.0.1:3316';
CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:19000';
CREATE PIPELINE p
  FROM binlog shop.shopdb.orders
  TRANSFORM id, customer, amount
  INTO clickhouse dw.shop.orders;
`, movedKeysFixture)
}

// passFixture runs etlq test over the file src with one fixture, which
// must pass.
func passFixture(t *testing.T, src, fixture string) {
	t.Helper()
	dir := t.TempDir()
	etl := filepath.Join(dir, "moved.etl")
	fx := filepath.Join(dir, "fixtures")
	if err := os.MkdirAll(fx, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(etl, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fx, "moved.json"), []byte(fixture), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustEtlqEnv(t, noDemoEnv(), "test", etl, "--fixtures", fx); !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("etlq test:\n%s", out)
	}
}

const movedKeysFixture = `{
 "name": "updates that change the key leave a tombstone of the old key with the row's new values",
 "tables": [
  {
   "table": "shopdb.orders",
   "columns": [
    {
     "name": "id",
     "type": "bigint(20)",
     "key": 1
    },
    {
     "name": "customer",
     "type": "varchar(64)"
    },
    {
     "name": "amount",
     "type": "decimal(12,2)"
    }
   ]
  }
 ],
 "changes": [
  {
   "table": "shopdb.orders",
   "op": "insert",
   "after": {
    "id": 1,
    "customer": "ada",
    "amount": "1.00"
   }
  },
  {
   "table": "shopdb.orders",
   "op": "insert",
   "after": {
    "id": 2,
    "customer": "bob",
    "amount": "2.00"
   }
  },
  {
   "table": "shopdb.orders",
   "op": "insert",
   "after": {
    "id": 3,
    "customer": "cy",
    "amount": "3.00"
   }
  },
  {
   "table": "shopdb.orders",
   "op": "insert",
   "after": {
    "id": 4,
    "customer": "dee",
    "amount": "4.00"
   }
  },
  {
   "table": "shopdb.orders",
   "op": "update",
   "before": {
    "id": 1,
    "customer": "ada",
    "amount": "1.00"
   },
   "after": {
    "id": 1,
    "customer": "ada",
    "amount": "1.50"
   }
  },
  {
   "table": "shopdb.orders",
   "op": "update",
   "before": {
    "id": 2,
    "customer": "bob",
    "amount": "2.00"
   },
   "after": {
    "id": 20,
    "customer": "bob",
    "amount": "2.50"
   }
  },
  {
   "table": "shopdb.orders",
   "op": "update",
   "before": {
    "id": 3,
    "customer": "cy",
    "amount": "3.00"
   },
   "after": {
    "id": 3,
    "customer": "cy",
    "amount": "3.50"
   }
  },
  {
   "table": "shopdb.orders",
   "op": "update",
   "before": {
    "id": 4,
    "customer": "dee",
    "amount": "4.00"
   },
   "after": {
    "id": 40,
    "customer": "dee",
    "amount": "4.50"
   }
  }
 ],
 "expect": {
  "p": [
   {
    "id": 1,
    "customer": "ada",
    "amount": "1.00",
    "__deleted": 0
   },
   {
    "id": 2,
    "customer": "bob",
    "amount": "2.00",
    "__deleted": 0
   },
   {
    "id": 3,
    "customer": "cy",
    "amount": "3.00",
    "__deleted": 0
   },
   {
    "id": 4,
    "customer": "dee",
    "amount": "4.00",
    "__deleted": 0
   },
   {
    "id": 1,
    "customer": "ada",
    "amount": "1.50",
    "__deleted": 0
   },
   {
    "id": 20,
    "customer": "bob",
    "amount": "2.50",
    "__deleted": 0
   },
   {
    "id": 3,
    "customer": "cy",
    "amount": "3.50",
    "__deleted": 0
   },
   {
    "id": 40,
    "customer": "dee",
    "amount": "4.50",
    "__deleted": 0
   },
   {
    "id": 2,
    "customer": "bob",
    "amount": "2.50",
    "__deleted": 1
   },
   {
    "id": 4,
    "customer": "dee",
    "amount": "4.50",
    "__deleted": 1
   }
  ]
 }
}
`

// TestUpsertMovedKeysOverPattern: KEY (_table, id) over a pattern — the
// engine leaves _table out of the keys it compares (both images of a row
// have the same), and an update that changes id still leaves a tombstone
// of its old key, in its own table only.
func TestUpsertMovedKeysOverPattern(t *testing.T) {
	t.Parallel()
	passFixture(t, `CREATE SOURCE shop FROM mysql 'mysql://root@127.0.0.1:3316';
CREATE SINK dw INTO clickhouse 'clickhouse://127.0.0.1:19000';
CREATE PIPELINE p
  FROM binlog shop.shopdb.orders_*
  TRANSFORM _table, id, amount
  INTO clickhouse dw.shop.orders MODE upsert KEY (_table, id);
`, movedKeysPatternFixture)
}

const movedKeysPatternFixture = `{
 "name": "KEY (_table, id): an update that changes id leaves a tombstone of its table's old key",
 "tables": [
  {"table": "shopdb.orders_a", "columns": [{"name": "id", "type": "bigint(20)", "key": 1}, {"name": "amount", "type": "decimal(12,2)"}]},
  {"table": "shopdb.orders_b", "columns": [{"name": "id", "type": "bigint(20)", "key": 1}, {"name": "amount", "type": "decimal(12,2)"}]}
 ],
 "changes": [
  {"table": "shopdb.orders_a", "op": "update", "before": {"id": 1, "amount": "1.00"}, "after": {"id": 10, "amount": "1.50"}},
  {"table": "shopdb.orders_a", "op": "update", "before": {"id": 2, "amount": "2.00"}, "after": {"id": 2, "amount": "2.50"}},
  {"table": "shopdb.orders_b", "op": "update", "before": {"id": 1, "amount": "3.00"}, "after": {"id": 1, "amount": "3.50"}}
 ],
 "expect": {
  "p": [
   {"_table": "orders_a", "id": 10, "amount": "1.50", "__deleted": 0},
   {"_table": "orders_a", "id": 2, "amount": "2.50", "__deleted": 0},
   {"_table": "orders_a", "id": 1, "amount": "1.50", "__deleted": 1},
   {"_table": "orders_b", "id": 1, "amount": "3.50", "__deleted": 0}
  ]
 }
}`
