package clickhouse

import (
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
)

// TestCompressionAuto: compression = 'auto' (the default) sends blocks
// uncompressed to a server on loopback and lz4-compressed elsewhere; an
// explicit method is kept.
func TestCompressionAuto(t *testing.T) {
	for _, c := range []struct {
		dsn, comp string
		want      clickhouse.CompressionMethod // 0: none
	}{
		{"clickhouse://127.0.0.1:9000", "", 0},
		{"clickhouse://localhost:9000", "auto", 0},
		{"clickhouse://[::1]:9000", "", 0},
		{"clickhouse://127.0.0.1:9000,127.0.0.2:9000", "", 0},
		{"clickhouse://olap.example.com:9000", "", clickhouse.CompressionLZ4},
		{"clickhouse://10.0.0.5:9000", "", clickhouse.CompressionLZ4},
		{"clickhouse://127.0.0.1:9000,10.0.0.5:9000", "", clickhouse.CompressionLZ4},
		{"clickhouse://127.0.0.1:9000", "lz4", clickhouse.CompressionLZ4},
		{"clickhouse://olap.example.com:9000", "none", 0},
		{"clickhouse://olap.example.com:9000", "zstd", clickhouse.CompressionZSTD},
	} {
		opts := map[string]any{}
		if c.comp != "" {
			opts["compression"] = c.comp
		}
		s, err := NewSink("dw", c.dsn, opts)
		if err != nil {
			t.Fatalf("%s: %v", c.dsn, err)
		}
		var got clickhouse.CompressionMethod
		if s.chOpts.Compression != nil {
			got = s.chOpts.Compression.Method
		}
		if got != c.want {
			t.Errorf("%s compression=%q: method %v, want %v", c.dsn, c.comp, got, c.want)
		}
	}
}

// TestCompressedRoundTrip: every compression method writes the same rows
// into the real server.
func TestCompressedRoundTrip(t *testing.T) {
	for _, comp := range []string{"none", "lz4", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			e := newEnv(t, map[string]any{"compression": comp})
			s := sinktest.SinkSchema(orderFields(), false)
			w := e.open(e.target("events", connectors.ModeAppend, nil, s, nil))
			var rows [][]any
			for i := 0; i < 2000; i++ {
				rows = append(rows, sysRow(uint64(i+1), false, "insert", int64(i), fmt.Sprintf("name %d", i%7), fmt.Sprintf("%d.25", i)))
			}
			write(t, w, e.build(s, rows...), nil)
			flush(t, w)
			got := e.text("SELECT count(), sum(id), toString(sum(amount)), uniqExact(name) FROM " + quote(e.db) + ".events")
			if want := "2000\t1999000\t1999500.00\t7\n"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}
