package clickhouse

import (
	"fmt"
	"math"
	"time"

	"github.com/etlq/etlq/connectors"
)

// Spec is the "clickhouse" sink kind: its options and their defaults.
var Spec = connectors.Spec{
	Kind: "clickhouse",
	Doc: "ClickHouse over the native protocol (clickhouse://user:password@host:9000/database). " +
		"DSN parameters: secure (TLS, to the secure native port, 9440), skip_verify, tls_server_name, read_timeout, alt_hosts, connection_open_strategy, " +
		"username, password, database; any other is refused (compression, dial_timeout and max_open_conns are options). " +
		"Creates missing databases, tables and the <table>_current view of upsert tables; " +
		"adds columns the source adds. Target options given on the sink are defaults for every pipeline.",
	Options: []connectors.Option{
		{Name: "database", Type: connectors.OptString, Doc: "database of targets named without one (default: the DSN's, else \"default\")"},
		{Name: "compression", Type: connectors.OptString, Default: "auto", Enum: []string{"auto", "lz4", "zstd", "none"}, Doc: "native protocol block compression; auto: none when the server is on loopback (compressing there only costs CPU on both ends), lz4 otherwise"},
		{Name: "dial_timeout", Type: connectors.OptDuration, Default: "10s", Doc: "timeout of one connection attempt"},
		{Name: "max_open_conns", Type: connectors.OptInt, Default: 16, Min: 1, Max: 1 << 16, Doc: "connections to the server for inserts, shared by every pipeline of the sink (and as many for DDL and queries)"},
		{Name: "tls_ca", Type: connectors.OptString, Doc: "PEM file of the certificate authorities that verify the server (needs ?secure=true in the DSN; default: the system's)"},
		{Name: "tls_cert", Type: connectors.OptString, Doc: "PEM file of a client certificate (needs ?secure=true; with tls_key)"},
		{Name: "tls_key", Type: connectors.OptString, Doc: "PEM file of the client certificate's private key"},
	},
	TargetOptions: []connectors.Option{
		{Name: "order_by", Type: connectors.OptString, Doc: "ORDER BY expression of a created append or changelog table (default: the key, else tuple(); changelog adds _version)"},
		{Name: "partition_by", Type: connectors.OptString, Doc: "PARTITION BY expression of a created table"},
		{Name: "engine", Type: connectors.OptString, Doc: "ENGINE of a created table (default: ReplacingMergeTree(_version) for upsert, MergeTree() otherwise)"},
		{Name: "ttl", Type: connectors.OptString, Doc: "TTL expression of a created table (ClickHouse 19.6 or later)"},
		{Name: "batch_rows", Type: connectors.OptInt, Default: 50000, Min: 1, Max: math.MaxInt64, Doc: "rows per insert: small batches are coalesced up to this"},
		{Name: "batch_bytes", Type: connectors.OptInt, Default: 8 << 20, Min: 1, Max: math.MaxInt64, Doc: "Arrow bytes per insert: small batches are coalesced up to this"},
		{Name: "flush_interval", Type: connectors.OptDuration, Default: "1s", Doc: "longest time rows wait to be coalesced before they are inserted"},
		{Name: "idle_flush", Type: connectors.OptDuration, Default: "200ms", Doc: "when the source has nothing more to send, rows are inserted without waiting out flush_interval, but at most once per idle_flush (a steady stream of small transactions still makes few, large inserts); flush_interval or more turns early inserts off"},
		{Name: "insert_rows", Type: connectors.OptInt, Default: 1000000, Min: 0, Max: math.MaxInt64, Doc: "rows one INSERT carries while the stream is busy (its batches come full), a block per batch, so that ClickHouse writes one part where it wrote one per batch and merges less; what a retry needs of its batches is kept until it ends (insert_memory); batch_rows or less (or 0): one batch per INSERT"},
		{Name: "insert_bytes", Type: connectors.OptInt, Default: 0, Min: 0, Max: math.MaxInt64, Doc: "Arrow bytes of batches one INSERT carries at most (with insert_rows above batch_rows; ClickHouse squashes an INSERT's blocks into one part up to 256 MiB by default); 0: 1 MiB per column of the table, at least 32 MiB and at most 256 MiB — a part costs ClickHouse a file per column, so a wide table's INSERTs run longer, while a narrow table's end every 32 MiB and the next runs while ClickHouse finishes the last"},
		{Name: "insert_memory", Type: connectors.OptInt, Default: 16 << 20, Min: 0, Max: math.MaxInt64, Doc: "Arrow bytes of sent batches the open INSERT and the one being ended keep in memory together for a retry (with insert_rows above batch_rows); past it a sent batch's inserted columns are written to a temporary file in $TMPDIR (unlinked at once, up to insert_bytes per INSERT; a retry reads them back) and the batch is released"},
		{Name: "max_inflight", Type: connectors.OptInt, Default: 2, Min: 1, Max: 1 << 16, Doc: "inserts running at once"},
		{Name: "max_backoff", Type: connectors.OptDuration, Default: "30s", Doc: "longest wait between retries while ClickHouse is unreachable (refused, cut, a handshake not answered within dial_timeout): a pipeline's first connection, its inserts and schema changes wait for it; a refused login stops at once (docs/operations.md)"},
		{Name: "out_of_range", Type: connectors.OptString, Default: "fail", Enum: []string{"fail", "null"},
			Doc: "a date or timestamp outside the ClickHouse type's range (MySQL zero dates included): fail the insert, or write NULL (under 'null' such a column is created Nullable; a key column, never NULL, is refused)"},
		{Name: "close_timeout", Type: connectors.OptDuration, Default: "30s", Doc: "how long closing a pipeline waits for its pending inserts before failing them"},
		{Name: "schema_changes", Type: connectors.OptString, Default: "evolve", Enum: []string{"evolve", "ignore", "fail"},
			Doc: "a batch with columns the table lacks or with wider types: evolve adds them (ALTER TABLE … ADD COLUMN with the source's DEFAULT; a renamed column as DEFAULT old_name) and widens types (MODIFY COLUMN), ignore drops them, fail stops (docs/schema-changes.md)"},
	},
}

// targetOptions are the resolved per-target options.
type targetOptions struct {
	orderBy, partitionBy, engine, ttl string
	batchRows                         int
	batchBytes                        int64
	insertRows                        int
	insertBytes                       int64
	insertMemory                      int64
	flushInterval                     time.Duration
	idleFlush                         time.Duration
	maxInflight                       int
	maxBackoff                        time.Duration
	closeTimeout                      time.Duration
	schemaChanges                     string
	outOfRange                        string
}

// resolveTargetOptions reads the target options from layers, the first
// that gives one winning (a pipeline's WITH, then its sink's), else the
// spec's default.
func resolveTargetOptions(layers ...map[string]any) (targetOptions, error) {
	var t targetOptions
	o, err := connectors.ParseOptions(Spec.TargetOptions, layers...)
	if err != nil {
		return t, err
	}
	t.orderBy, t.partitionBy = o.String("order_by"), o.String("partition_by")
	t.engine, t.ttl = o.String("engine"), o.String("ttl")
	t.schemaChanges, t.outOfRange = o.String("schema_changes"), o.String("out_of_range")
	t.batchRows, t.batchBytes, t.maxInflight = int(o.Int("batch_rows")), o.Int("batch_bytes"), int(o.Int("max_inflight"))
	t.insertRows, t.insertBytes, t.insertMemory = int(o.Int("insert_rows")), o.Int("insert_bytes"), o.Int("insert_memory")
	t.flushInterval, t.idleFlush = o.Duration("flush_interval"), o.Duration("idle_flush")
	t.maxBackoff, t.closeTimeout = o.Duration("max_backoff"), o.Duration("close_timeout")
	// Zero durations the spec cannot refuse (it bounds integers only).
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"flush_interval", t.flushInterval}, {"max_backoff", t.maxBackoff}, {"close_timeout", t.closeTimeout}} {
		if d.v <= 0 {
			return t, fmt.Errorf("option %q: must be positive", d.name)
		}
	}
	return t, nil
}
