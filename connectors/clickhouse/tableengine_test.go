package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestTableEngineWhileViewsChurn: ClickHouse 18.16 computes system.tables'
// engine_full for every table of the database, so the re-key's engine query
// of one table failed with code 60 when another table of the database was
// renamed or dropped meanwhile (another pipeline making its _current view
// again; TestOldBatchesAfterWidening in a CI run, about one query in 300 by
// hand; code 107 as well, the metadata file gone). tableEngine reads again
// (whileTablesMove); a table that does not exist is still an error.
func TestTableEngineWhileViewsChurn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.exec("CREATE DATABASE " + quote(e.db))
	e.exec("CREATE TABLE " + quote(e.db) + ".u (id Int32) ENGINE = MergeTree ORDER BY id")
	e.exec("CREATE TABLE " + quote(e.db) + ".t (id Int32) ENGINE = MergeTree ORDER BY id")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v, old := fmt.Sprintf("%s.v_%d", quote(e.db), i), fmt.Sprintf("%s.v_old_%d", quote(e.db), i)
			_ = e.conn.Exec(ctx, "CREATE VIEW "+v+" AS SELECT * FROM "+quote(e.db)+".t")
			_ = e.conn.Exec(ctx, "RENAME TABLE "+v+" TO "+old)
			_ = e.conn.Exec(ctx, "DROP TABLE "+old)
		}
	}()
	var failed error
	for i := 0; i < 800 && failed == nil; i++ {
		engine, err := tableEngine(ctx, e.conn, e.db, "u")
		if err != nil {
			failed = err
		} else if !strings.HasPrefix(engine, "MergeTree") {
			failed = fmt.Errorf("engine %q", engine)
		}
	}
	close(stop)
	wg.Wait()
	if failed != nil {
		t.Fatalf("the engine of u while other tables of the database come and go: %v", failed)
	}
	if _, err := tableEngine(ctx, e.conn, e.db, "gone"); err == nil {
		t.Fatal("the engine of a table that does not exist: no error")
	}
}
