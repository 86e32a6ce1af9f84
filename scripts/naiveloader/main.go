// Command naiveloader is the baseline of BenchmarkCatchUpVsNaiveLoader: a
// MySQL → ClickHouse change loader built the way users hand-write one. It
// follows the binlog with go-mysql's canal, appends every changed row to a
// clickhouse-go batch with one batch.Append per row, and sends the batch
// every 10,000 rows. It is deliberately plain: no columnar conversion, no
// pipelining, canal's default event cache.
//
// It reads from --start (binlog file:pos) and stops at the first
// transaction boundary at or past --end, after sending what it holds. The
// target table must exist with the source table's columns (same names and
// order) followed by _version UInt64 and _is_deleted UInt8, like the upsert
// tables etlq creates: inserts and updates append the new row image with
// _is_deleted = 0, deletes the old image with _is_deleted = 1.
//
//	naiveloader --mysql mysql://root@127.0.0.1:3316 --clickhouse clickhouse://127.0.0.1:19000 \
//	  --table db.t --target db.t_naive --start binlog.000001:4 --end binlog.000001:1234
//
// On success it prints one line: "rows N seconds S".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-mysql-org/go-mysql/canal"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-mysql-org/go-mysql/schema"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "naiveloader:", err)
		os.Exit(1)
	}
}

type config struct {
	mysqlDSN, chDSN string
	db, table       string
	target          string
	start, end      mysql.Position
	batchRows       int
	serverID        uint32
}

func parseFlags() (config, error) {
	var c config
	var table, start, end string
	var serverID uint
	flag.StringVar(&c.mysqlDSN, "mysql", "mysql://root@127.0.0.1:3316", "source server: mysql://user:password@host:port")
	flag.StringVar(&c.chDSN, "clickhouse", "clickhouse://127.0.0.1:19000", "target ClickHouse (native protocol DSN)")
	flag.StringVar(&table, "table", "", "source table: db.table")
	flag.StringVar(&c.target, "target", "", "target ClickHouse table: db.table")
	flag.StringVar(&start, "start", "", "binlog position to start from: file:pos")
	flag.StringVar(&end, "end", "", "binlog position to stop at: file:pos")
	flag.IntVar(&c.batchRows, "batch-rows", 10000, "rows per ClickHouse insert")
	flag.UintVar(&serverID, "server-id", 0, "replica server id (default: random)")
	flag.Parse()
	var ok bool
	if c.db, c.table, ok = strings.Cut(table, "."); !ok {
		return c, fmt.Errorf("--table %q: want db.table", table)
	}
	if c.target == "" {
		return c, errors.New("--target is required")
	}
	var err error
	if c.start, err = parsePos(start); err != nil {
		return c, fmt.Errorf("--start: %w", err)
	}
	if c.end, err = parsePos(end); err != nil {
		return c, fmt.Errorf("--end: %w", err)
	}
	c.serverID = uint32(serverID)
	if c.serverID == 0 {
		c.serverID = 100000 + rand.Uint32N(1<<30)
	}
	return c, nil
}

func parsePos(s string) (mysql.Position, error) {
	file, pos, ok := strings.Cut(s, ":")
	if !ok {
		return mysql.Position{}, fmt.Errorf("%q: want file:pos", s)
	}
	n, err := strconv.ParseUint(pos, 10, 32)
	if err != nil {
		return mysql.Position{}, fmt.Errorf("%q: %w", s, err)
	}
	return mysql.Position{Name: file, Pos: uint32(n)}, nil
}

func run() error {
	cfg, err := parseFlags()
	if err != nil {
		return err
	}
	ctx := context.Background()
	began := time.Now()

	opts, err := clickhouse.ParseDSN(cfg.chDSN)
	if err != nil {
		return err
	}
	ch, err := clickhouse.Open(opts)
	if err != nil {
		return err
	}
	defer ch.Close()
	targetTypes, err := columnTypes(ctx, ch, cfg.target)
	if err != nil {
		return err
	}

	u, err := url.Parse(cfg.mysqlDSN)
	if err != nil {
		return fmt.Errorf("--mysql: %w", err)
	}
	cc := canal.NewDefaultConfig()
	cc.Addr = u.Host
	cc.User = u.User.Username()
	cc.Password, _ = u.User.Password()
	cc.Flavor = "mariadb"
	cc.ServerID = cfg.serverID
	cc.Dump.ExecutionPath = "" // no mysqldump: binlog only
	cc.IncludeTableRegex = []string{"^" + regexpQuote(cfg.db) + `\.` + regexpQuote(cfg.table) + "$"}
	cc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := canal.NewCanal(cc)
	if err != nil {
		return err
	}
	h := &handler{ctx: ctx, ch: ch, cfg: cfg, targetTypes: targetTypes}
	c.SetEventHandler(h)
	err = c.RunFrom(cfg.start)
	c.Close()
	if !errors.Is(err, errDone) {
		if err == nil {
			err = errors.New("binlog stream ended before the end position")
		}
		return err
	}
	fmt.Printf("rows %d seconds %.3f\n", h.rows, time.Since(began).Seconds())
	return nil
}

// errDone stops canal once the end position is reached.
var errDone = errors.New("end position reached")

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// columnTypes returns the ClickHouse types of the target's columns, in order.
func columnTypes(ctx context.Context, ch driver.Conn, target string) ([]string, error) {
	db, table, ok := strings.Cut(target, ".")
	if !ok {
		return nil, fmt.Errorf("--target %q: want db.table", target)
	}
	rows, err := ch.Query(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = ?", db, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		types = append(types, t)
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("target table %q not found", target)
	}
	return types, rows.Err()
}

// handler is the hand-written part: one Append per row, Send every
// batchRows rows.
type handler struct {
	canal.DummyEventHandler
	ctx         context.Context
	ch          driver.Conn
	cfg         config
	targetTypes []string
	batch       driver.Batch
	pending     int
	rows        int
	version     uint64
}

func (h *handler) OnRow(e *canal.RowsEvent) error {
	step, first := 1, 0
	deleted := uint8(0)
	switch e.Action {
	case canal.UpdateAction:
		step, first = 2, 1 // [before, after] pairs: keep the after image
	case canal.DeleteAction:
		deleted = 1
	}
	for i := first; i < len(e.Rows); i += step {
		if err := h.append(e.Table, e.Rows[i], deleted); err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) append(t *schema.Table, row []any, deleted uint8) error {
	if h.batch == nil {
		cols := make([]string, 0, len(t.Columns)+2)
		for _, c := range t.Columns {
			cols = append(cols, "`"+c.Name+"`")
		}
		cols = append(cols, "_version", "_is_deleted")
		b, err := h.ch.PrepareBatch(h.ctx, "INSERT INTO "+h.cfg.target+" ("+strings.Join(cols, ", ")+")")
		if err != nil {
			return err
		}
		h.batch = b
	}
	vals := make([]any, 0, len(row)+2)
	for i, v := range row {
		cv, err := h.convert(t, i, v)
		if err != nil {
			return err
		}
		vals = append(vals, cv)
	}
	h.version++
	vals = append(vals, h.version, deleted)
	if err := h.batch.Append(vals...); err != nil {
		return err
	}
	h.pending++
	h.rows++
	if h.pending >= h.cfg.batchRows {
		return h.send()
	}
	return nil
}

// convert turns a canal value into what the target column takes: ENUM
// indexes into their text, DATETIME text into Int64 microseconds (ClickHouse
// without DateTime64) or time.Time.
func (h *handler) convert(t *schema.Table, i int, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	col := t.Columns[i]
	switch col.Type {
	case schema.TYPE_ENUM:
		if n, ok := v.(int64); ok {
			if n <= 0 || int(n) > len(col.EnumValues) {
				return "", nil
			}
			return col.EnumValues[n-1], nil
		}
	case schema.TYPE_DATETIME, schema.TYPE_TIMESTAMP:
		s, ok := v.(string)
		if !ok {
			break
		}
		ts, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", col.Name, err)
		}
		if i < len(h.targetTypes) && strings.Contains(h.targetTypes[i], "Int64") {
			return ts.UnixMicro(), nil
		}
		return ts, nil
	}
	return v, nil
}

func (h *handler) send() error {
	if h.batch == nil {
		return nil
	}
	err := h.batch.Send()
	h.batch, h.pending = nil, 0
	return err
}

// OnPosSynced is called at every transaction end: stop once at or past the
// end position.
func (h *handler) OnPosSynced(header *replication.EventHeader, pos mysql.Position, _ mysql.GTIDSet, _ bool) error {
	if header == nil {
		return nil
	}
	if pos.Compare(h.cfg.end) >= 0 {
		return h.finish()
	}
	return nil
}

func (h *handler) finish() error {
	if err := h.send(); err != nil {
		return err
	}
	return errDone
}
