package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/clickhouse"
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// TestErrorsNameSourceOrSinkOnce: a source or sink the engine cannot make
// from its declaration is named once in Run's and Verify's error — the
// connectors' own errors name it ("clickhouse sink \"dwsink\": …",
// "source \"shopsrc\": …"), and the engine's wrapper named it again
// ("sink dwsink: clickhouse sink \"dwsink\": …"). (The plans are not
// checked first, as etlq's commands do: the engine's own paths.)
func TestErrorsNameSourceOrSinkOnce(t *testing.T) {
	t.Parallel()
	useRealConnectorsAs("mysqlreal", "clickhousereal")
	const goodSource = `CREATE SOURCE shopsrc FROM mysqlreal 'mysql://etl:secret@127.0.0.1:1/' WITH (server_id = 7);`
	const goodSink = `CREATE SINK dwsink INTO clickhousereal 'clickhouse://127.0.0.1:1';`
	const pipeline = `
CREATE PIPELINE orders FROM binlog shopsrc.shopdb.orders TRANSFORM id, status, qty
  INTO clickhousereal dwsink.analytics.orders MODE upsert KEY (id);`
	for _, c := range []struct {
		name, decls, named, want string
	}{
		{"sink DSN", goodSource + "\nCREATE SINK dwsink INTO clickhousereal 'http://127.0.0.1:1';", "dwsink", "the DSN must start with clickhouse://"},
		{"source option", "CREATE SOURCE shopsrc FROM mysqlreal 'mysql://etl:secret@127.0.0.1:1/' WITH (server_id = 7, ssl_mode = 'preferred', ssl_ca = '/etc/hostname');\n" + goodSink, "shopsrc", "ssl_ca is not used"},
	} {
		f, err := lang.ParseFile("test.etl", []byte(c.decls+pipeline))
		if err != nil {
			t.Fatal(err)
		}
		p, err := planner.Build(context.Background(), f, planner.Options{Catalog: newCatalog(t, "orders")})
		if err != nil {
			t.Fatalf("%s: plan: %v", c.name, err)
		}
		runErr := engine.Run(context.Background(), p, engine.Options{StateDir: t.TempDir(), Once: true})
		res, verifyErr := engine.Verify(context.Background(), p, engine.VerifyOptions{StateDir: t.TempDir()})
		if verifyErr == nil && len(res) == 1 && res[0].Error != "" {
			verifyErr = errors.New(res[0].Error) // (a pipeline not verified)
		}
		// A stopped pipeline's own checkpoint beside the source's: the
		// run starts with its rejoin, which makes the source first.
		stopped := t.TempDir()
		for file, source := range map[string]string{"source-shopsrc.json": "shopsrc", "source-shopsrc@orders.json": "shopsrc@orders"} {
			state := fmt.Sprintf(`{"format": 1, "source": %q, "mark": {"pos": 1}, "pipelines": ["orders"]}`, source)
			if err := os.WriteFile(filepath.Join(stopped, file), []byte(state), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		rejoinErr := engine.Run(context.Background(), p, engine.Options{StateDir: stopped, Once: true})
		for what, err := range map[string]error{"apply": runErr, "verify": verifyErr, "rejoin": rejoinErr} {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %s: %v, want %q", c.name, what, err, c.want)
			} else if n := strings.Count(err.Error(), c.named); n != 1 {
				t.Errorf("%s: %s names %s %d times: %v", c.name, what, c.named, n, err)
			}
		}
	}
}

var realOnce sync.Once

// useRealConnectorsAs registers the mysql source and the clickhouse sink
// under kinds of their own: the verify tests make the registry's mysql
// and clickhouse kinds return their fakes (useVerifyConnectors).
func useRealConnectorsAs(src, snk string) {
	realOnce.Do(func() {
		srcSpec, _ := connectors.SourceSpec("mysql")
		ss := *srcSpec
		ss.Kind = src
		connectors.RegisterSource(ss, func(name, dsn string, opts map[string]any) (connectors.Source, error) {
			return mysql.NewSource(name, dsn, opts)
		})
		ks := clickhouse.Spec
		ks.Kind = snk
		connectors.RegisterSink(ks, func(name, dsn string, opts map[string]any) (connectors.Sink, error) {
			return clickhouse.NewSink(name, dsn, opts)
		})
	})
}
