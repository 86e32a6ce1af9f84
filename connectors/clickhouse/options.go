package clickhouse

import (
	"fmt"
	"math"
	"strconv"
	"strings"
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
		{Name: "max_open_conns", Type: connectors.OptInt, Default: 16, Min: 1, Max: 1 << 16, Doc: "connections to the server, shared by every pipeline of the sink"},
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
		{Name: "max_inflight", Type: connectors.OptInt, Default: 2, Min: 1, Max: 1 << 16, Doc: "inserts running at once"},
		{Name: "max_backoff", Type: connectors.OptDuration, Default: "30s", Doc: "longest wait between retries while ClickHouse is unreachable"},
		{Name: "out_of_range", Type: connectors.OptString, Default: "fail", Enum: []string{"fail", "null"},
			Doc: "a date or timestamp outside the ClickHouse type's range (MySQL zero dates included): fail the insert, or write NULL into a Nullable column"},
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
	flushInterval                     time.Duration
	idleFlush                         time.Duration
	maxInflight                       int
	maxBackoff                        time.Duration
	closeTimeout                      time.Duration
	schemaChanges                     string
	outOfRange                        string
}

// optionSet looks options up in order: the pipeline's, the sink's, the
// spec's defaults.
type optionSet []map[string]any

func (o optionSet) raw(name string) (any, bool) {
	for _, m := range o {
		if v, ok := m[name]; ok && v != nil {
			return v, true
		}
	}
	if opt, ok := Spec.Lookup(name); ok && opt.Default != nil {
		return opt.Default, true
	}
	return nil, false
}

func (o optionSet) str(name string) (string, error) {
	v, ok := o.raw(name)
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("option %q: want a string, got %v", name, v)
	}
	if opt, ok := Spec.Lookup(name); ok && len(opt.Enum) > 0 {
		for _, e := range opt.Enum {
			if strings.EqualFold(e, s) {
				return e, nil
			}
		}
		return "", fmt.Errorf("option %q: %q is not one of %s", name, s, strings.Join(opt.Enum, ", "))
	}
	return s, nil
}

func (o optionSet) int(name string) (int64, error) {
	v, ok := o.raw(name)
	if !ok {
		return 0, nil
	}
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case int64:
		return n, nil
	case uint64:
		return int64(n), nil
	case float64:
		if n == float64(int64(n)) {
			return int64(n), nil
		}
	case string:
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("option %q: want an integer, got %v", name, v)
}

func (o optionSet) duration(name string) (time.Duration, error) {
	v, ok := o.raw(name)
	if !ok {
		return 0, nil
	}
	switch d := v.(type) {
	case time.Duration:
		return d, nil
	case string:
		if p, err := time.ParseDuration(d); err == nil {
			return p, nil
		}
	}
	return 0, fmt.Errorf("option %q: want a duration such as '500ms', got %v", name, v)
}

// resolveTargetOptions reads the target options.
func resolveTargetOptions(o optionSet) (targetOptions, error) {
	var t targetOptions
	var err error
	get := func(name string, dst *string) {
		if err == nil {
			*dst, err = o.str(name)
		}
	}
	get("order_by", &t.orderBy)
	get("partition_by", &t.partitionBy)
	get("engine", &t.engine)
	get("ttl", &t.ttl)
	get("schema_changes", &t.schemaChanges)
	get("out_of_range", &t.outOfRange)
	if err != nil {
		return t, err
	}
	rowsN, err := o.int("batch_rows")
	if err != nil {
		return t, err
	}
	if t.batchBytes, err = o.int("batch_bytes"); err != nil {
		return t, err
	}
	inflight, err := o.int("max_inflight")
	if err != nil {
		return t, err
	}
	if t.flushInterval, err = o.duration("flush_interval"); err != nil {
		return t, err
	}
	if t.idleFlush, err = o.duration("idle_flush"); err != nil {
		return t, err
	}
	if t.maxBackoff, err = o.duration("max_backoff"); err != nil {
		return t, err
	}
	if t.closeTimeout, err = o.duration("close_timeout"); err != nil {
		return t, err
	}
	t.batchRows, t.maxInflight = int(rowsN), int(inflight)
	switch {
	case t.batchRows < 1:
		return t, fmt.Errorf("option \"batch_rows\": must be at least 1")
	case t.batchBytes < 1:
		return t, fmt.Errorf("option \"batch_bytes\": must be at least 1")
	case t.maxInflight < 1:
		return t, fmt.Errorf("option \"max_inflight\": must be at least 1")
	case t.flushInterval <= 0:
		return t, fmt.Errorf("option \"flush_interval\": must be positive")
	case t.idleFlush < 0:
		return t, fmt.Errorf("option \"idle_flush\": must not be negative")
	case t.maxBackoff <= 0:
		return t, fmt.Errorf("option \"max_backoff\": must be positive")
	case t.closeTimeout <= 0:
		return t, fmt.Errorf("option \"close_timeout\": must be positive")
	}
	return t, nil
}
