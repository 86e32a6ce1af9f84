// Package clickhouse is the ClickHouse sink: it creates target tables from
// the planned Arrow schema and loads change batches with columnar inserts
// over the native protocol: DDL and queries through clickhouse-go/v2, the
// inserts over connections of its own with ch-go's column API (native.go).
//
// Table layout by mode:
//   - upsert: ReplacingMergeTree(_version) ORDER BY the key; user columns,
//     _version UInt64, _is_deleted UInt8; a view <table>_current shows the
//     live rows (FINAL, _is_deleted = 0).
//   - append: MergeTree ORDER BY the key (or order_by, else tuple()).
//   - changelog: MergeTree, one row per change: user columns, _op, _ts,
//     _pos, _version and _before_<col> for the old values.
//
// The Arrow → ClickHouse type map is in types.go and docs/types.md.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"github.com/etlq/etlq/exec"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/etlq/etlq/connectors"
)

func init() {
	connectors.RegisterSink(Spec, func(name, dsn string, opts map[string]any) (connectors.Sink, error) {
		return NewSink(name, dsn, opts)
	})
}

// Sink is a configured ClickHouse sink (one CREATE SINK). It connects on
// first use and reads the server version once; every pipeline writing into
// it shares its connection pool.
type Sink struct {
	name     string
	opts     map[string]any
	chOpts   *clickhouse.Options
	database string

	mu      sync.Mutex
	conn    driver.Conn
	version serverVersion
	closed  bool
	// idle are the insert connections not in use (native.go), busy holds a
	// token per one in use (at most max_open_conns); next picks the server
	// a new one tries first (connection_open_strategy).
	idle []*nativeConn
	busy chan struct{}
	next atomic.Uint64
	// dropping holds a channel per old table a swap put aside that is
	// being dropped in the background (rowcopy.go), closed when done;
	// drops counts them for Close.
	dropping map[string]chan struct{}
	drops    sync.WaitGroup
	// alters watches for ALTERs that wait for its long INSERTs
	// (alterwatch.go).
	alters alterWatch
}

var _ connectors.Sink = (*Sink)(nil)

// NewSink makes a sink from a DSN clickhouse://user:password@host:port/db
// and the sink's WITH options. It does not connect.
func NewSink(name, dsn string, opts map[string]any) (*Sink, error) {
	if !strings.HasPrefix(dsn, "clickhouse://") && !strings.HasPrefix(dsn, "tcp://") {
		return nil, fmt.Errorf("clickhouse sink %q: the DSN must start with clickhouse://", name)
	}
	if connectors.UnescapedPassword(dsn) {
		return nil, fmt.Errorf("clickhouse sink %q: bad DSN: %s", name, connectors.UnescapedPasswordHint)
	}
	chOpts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("clickhouse sink %q: bad DSN: %v", name, connectors.RedactDSN(redact(err.Error(), chOpts)))
	}
	connectors.RegisterSecret(chOpts.Auth.Password)
	if err := checkDSNParams(dsn); err != nil {
		return nil, fmt.Errorf("clickhouse sink %q: bad DSN: %v", name, redact(err.Error(), chOpts))
	}
	chOpts.Protocol = clickhouse.Native
	if err := connectors.UnknownOption(fmt.Sprintf("clickhouse sink %q", name), opts, Spec.Options, Spec.TargetOptions); err != nil {
		return nil, err
	}
	o, err := connectors.ParseOptions(Spec.Options, opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse sink %q: %w", name, err)
	}
	if err := applyTLSOptions(chOpts, o); err != nil {
		return nil, fmt.Errorf("clickhouse sink %q: %w", name, err)
	}
	db := o.String("database")
	if db == "" {
		db = chOpts.Auth.Database
	}
	if db == "" {
		db = "default"
	}
	comp := o.String("compression")
	if comp == "auto" {
		// Compressing over loopback costs both ends CPU and saves nothing.
		comp = "lz4"
		if allLoopback(chOpts.Addr) {
			comp = "none"
		}
	}
	switch comp {
	case "lz4":
		chOpts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	case "zstd":
		chOpts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionZSTD}
	default:
		chOpts.Compression = nil
	}
	chOpts.DialTimeout = o.Duration("dial_timeout")
	maxConns := o.Int("max_open_conns")
	chOpts.MaxOpenConns = int(maxConns)
	chOpts.MaxIdleConns = int(maxConns)
	// The database in the DSN must exist to log in; targets name theirs.
	chOpts.Auth.Database = ""
	// Check the target options given on the sink once, here.
	if _, err := resolveTargetOptions(opts); err != nil {
		return nil, fmt.Errorf("clickhouse sink %q: %w", name, err)
	}
	return &Sink{name: name, opts: opts, chOpts: chOpts, database: db}, nil
}

// allLoopback reports whether every address is on this machine's
// loopback interface (127.0.0.0/8, ::1, localhost).
func allLoopback(addrs []string) bool {
	if len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if strings.EqualFold(host, "localhost") {
			continue
		}
		ip := net.ParseIP(strings.Trim(host, "[]"))
		if ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// redact removes the password from a message.
func redact(msg string, o *clickhouse.Options) string {
	if o != nil && o.Auth.Password != "" {
		msg = strings.ReplaceAll(msg, o.Auth.Password, "xxxxx")
	}
	return msg
}

// connect opens the pool and reads the server version, once.
func (s *Sink) connect(ctx context.Context) (driver.Conn, serverVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, serverVersion{}, fmt.Errorf("clickhouse sink %q is closed", s.name)
	}
	if s.conn != nil {
		return s.conn, s.version, nil
	}
	conn, err := clickhouse.Open(s.chOpts)
	if err != nil {
		return nil, serverVersion{}, s.errorf("cannot connect: %v", explainTLS(err, s.chOpts, s.opts))
	}
	var vs string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&vs); err != nil {
		conn.Close()
		return nil, serverVersion{}, s.connectError(err)
	}
	v, err := parseVersion(vs)
	if err != nil {
		conn.Close()
		return nil, serverVersion{}, s.errorf("%v", err)
	}
	s.conn, s.version = conn, v
	return conn, v, nil
}

// connectError is the error of a first connection that failed. It keeps
// its cause for retryable when nothing says the settings are wrong: a
// connection refused, cut or timed out (also in the handshake, ClickHouse
// slow to answer) is waited for where the caller retries (Open). A login
// ClickHouse refuses and a TLS setting that does not fit the server are
// final, with what to fix.
func (s *Sink) connectError(err error) error {
	addrs := strings.Join(s.chOpts.Addr, ",")
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && loginRefused[ex.Code] {
		return s.errorf("%s refused the login: %v", addrs, err)
	}
	if tlsErr := explainTLS(err, s.chOpts, s.opts); tlsErr != err {
		return s.errorf("cannot reach %s: %v", addrs, tlsErr)
	}
	if plainToSecure(err, s.chOpts) {
		// Also what a server going down mid-handshake does: still retried.
		return s.wrapf(err, "cannot reach %s: %v (the server closed the connection at the handshake: if the port is its secure native port, tcp_port_secure, 9440 by default, add ?secure=true to the DSN)", addrs, err)
	}
	if tlsReset(err, s.chOpts) {
		hint := "if it verifies client certificates, give one as the sink's tls_cert and tls_key"
		if cert, _ := s.opts["tls_cert"].(string); cert != "" {
			hint = "if it verifies client certificates, it may refuse tls_cert " + cert + ": is it signed by a CA the server trusts (its openSSL caConfig)?"
		}
		return s.wrapf(err, "cannot reach %s: %v (the server closed the TLS connection at the handshake: %s)", addrs, err, hint)
	}
	return s.wrapf(err, "cannot reach %s: %v", addrs, err)
}

// loginRefused are ClickHouse's codes of a refused login.
var loginRefused = map[int32]bool{
	192: true, // UNKNOWN_USER
	193: true, // WRONG_PASSWORD
	194: true, // REQUIRED_PASSWORD
	195: true, // IP_ADDRESS_NOT_ALLOWED
	516: true, // AUTHENTICATION_FAILED
}

func (s *Sink) errorf(format string, args ...any) error {
	return errors.New(redact(fmt.Sprintf("clickhouse sink %q: ", s.name)+fmt.Sprintf(format, args...), s.chOpts))
}

// Version returns the server version, e.g. "18.16.1".
func (s *Sink) Version(ctx context.Context) (string, error) {
	_, v, err := s.connect(ctx)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// splitName splits a target name "db.table" (or "table": the sink
// database). A part holding "." or "`" is back-quoted, "`" doubled
// (`dw7.x`.`t.33`), as the planner writes it.
func (s *Sink) splitName(name string) (db, table string, err error) {
	parts, ok := splitTargetName(name)
	switch {
	case ok && len(parts) == 1:
		db, table = s.database, parts[0]
	case ok && len(parts) == 2:
		db, table = parts[0], parts[1]
	default:
		return "", "", fmt.Errorf("clickhouse target %q: want database.table", name)
	}
	if db == "" || table == "" {
		return "", "", fmt.Errorf("clickhouse target %q: want database.table", name)
	}
	if strings.ContainsAny(db+table, "()") {
		// clickhouse-go's reading of an INSERT stops at the first "(".
		return "", "", fmt.Errorf("clickhouse target %q: a database or table name with a parenthesis cannot be inserted into through clickhouse-go", name)
	}
	return db, table, nil
}

// splitTargetName splits name at the dots outside back quotes.
func splitTargetName(name string) ([]string, bool) {
	var parts []string
	for {
		var part string
		if strings.HasPrefix(name, "`") {
			var b strings.Builder
			i := 1
			for ; i < len(name); i++ {
				if name[i] == '`' {
					if i+1 < len(name) && name[i+1] == '`' {
						b.WriteByte('`')
						i++
						continue
					}
					break
				}
				b.WriteByte(name[i])
			}
			if i >= len(name) {
				return nil, false
			}
			part, name = b.String(), name[i+1:]
			if name != "" && name[0] != '.' {
				return nil, false
			}
		} else {
			i := strings.IndexByte(name, '.')
			if i < 0 {
				i = len(name)
			}
			part, name = name[:i], name[i:]
		}
		parts = append(parts, part)
		if name == "" {
			return parts, true
		}
		name = name[1:] // the dot
	}
}

// layoutFor resolves a target to its table layout.
func (s *Sink) layoutFor(ctx context.Context, t connectors.Target) (driver.Conn, *tableLayout, error) {
	conn, v, err := s.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	db, table, err := s.splitName(t.Name)
	if err != nil {
		return nil, nil, err
	}
	opts, err := resolveTargetOptions(t.Options, s.opts)
	if err != nil {
		return nil, nil, err
	}
	if t.Schema == nil {
		return nil, nil, errors.New("no output schema")
	}
	l, err := buildLayout(db, table, t.Mode, t.Key, t.Schema, v, opts)
	if err != nil {
		return nil, nil, err
	}
	l.keyGiven = t.KeyGiven
	l.edited = t.Edited
	return conn, l, nil
}

// tableState is what exists of a target table.
// layoutState is layoutFor and the state of the table it names.
func (s *Sink) layoutState(ctx context.Context, t connectors.Target) (driver.Conn, *tableLayout, tableState, error) {
	conn, l, err := s.layoutFor(ctx, t)
	if err != nil {
		return nil, nil, tableState{}, err
	}
	st, err := readTableState(ctx, conn, l.db, l.table)
	if err != nil {
		return nil, nil, tableState{}, s.errorf("reading %s.%s: %v", l.db, l.table, err)
	}
	return conn, l, st, nil
}

type tableState struct {
	exists  bool
	engine  string
	columns []existingColumn
	// sortKey holds the columns of the table's sorting key (ORDER BY),
	// in the table's order: an upsert table collapses the rows of one
	// sorting key, which must be the pipeline's key.
	sortKey []string
	// defaulted holds the columns with a DEFAULT, MATERIALIZED or ALIAS
	// expression: a row written without them takes the expression's
	// value, not the type's zero.
	defaulted map[string]bool
	// defaults holds those expressions as a column definition ends with
	// them ("DEFAULT CAST('7' AS Int32)"), for a MODIFY COLUMN to keep.
	defaults map[string]string
}

// readTableState reads whether db.table exists, its engine and columns.
// ClickHouse 18 fails a read of system.columns with code 60 (unknown
// table) when any table of the database is dropped or renamed meanwhile —
// another pipeline's view replaced through side names, a re-key's copy or
// lock: the read is made again, up to a second.
func readTableState(ctx context.Context, conn driver.Conn, db, table string) (tableState, error) {
	return whileTablesMove(ctx, func() (tableState, error) { return readTableStateOnce(ctx, conn, db, table) })
}

// whileTablesMove makes read again while ClickHouse 18 answers it with
// code 60 (a table of the database dropped or renamed while system.tables
// or system.columns was read) or 107 (the metadata file of such a table
// gone while system.tables read it: engine_full), up to a second.
func whileTablesMove[T any](ctx context.Context, read func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := read()
		if code := chCode(err); err == nil || (code != 60 && code != 107) || attempt == 20 {
			return v, err
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return v, err
		}
	}
}

func readTableStateOnce(ctx context.Context, conn driver.Conn, db, table string) (tableState, error) {
	var st tableState
	rows, err := conn.Query(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = ?", db, table)
	if err != nil {
		return st, err
	}
	for rows.Next() {
		st.exists = true
		if err := rows.Scan(&st.engine); err != nil {
			rows.Close()
			return st, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || !st.exists {
		return st, err
	}
	rows, err = conn.Query(ctx, "SELECT name, type, is_in_sorting_key, default_kind, default_expression FROM system.columns WHERE database = ? AND table = ?", db, table)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var c existingColumn
		var inKey uint8
		var defKind, defExpr string
		if err := rows.Scan(&c.name, &c.typ, &inKey, &defKind, &defExpr); err != nil {
			return st, err
		}
		if defKind != "" {
			if st.defaulted == nil {
				st.defaulted, st.defaults = map[string]bool{}, map[string]string{}
			}
			st.defaulted[c.name] = true
			st.defaults[c.name] = defKind + " " + defExpr
		}
		st.columns = append(st.columns, c)
		if inKey != 0 {
			st.sortKey = append(st.sortKey, c.name)
		}
	}
	return st, rows.Err()
}

// prepare computes the statements that bring the target to the layout:
// everything for a new table; ADD COLUMNs, MODIFY COLUMNs of widened types
// (and the view again) for an existing one. It adopts the existing table's
// nullability. With deferChanges (Open), an existing table's missing and
// retyped columns are left out of the layout and the statements: the
// writer's first batch settles them with what its schema says (a column
// the source's DDL added, renamed or widened since the checkpoint, or one
// dropped outside etlq), not with today's source schema.
func prepare(l *tableLayout, st tableState, schemaChanges string, deferChanges bool) ([]string, error) {
	if !st.exists {
		return l.ddl()
	}
	l.deferOther = schemaChanges == "evolve" && l.mode == connectors.ModeUpsert
	missing, err := l.reconcile(st.columns)
	if l.mode == connectors.ModeUpsert && l.opts.engine == "" && !strings.Contains(st.engine, "ReplacingMergeTree") {
		// Say all that does not match, the columns too.
		msg := fmt.Sprintf("existing table %s.%s is %s: upsert needs a ReplacingMergeTree", l.db, l.table, st.engine)
		if err != nil {
			msg += "; " + strings.TrimPrefix(err.Error(), fmt.Sprintf("existing table %s.%s does not match: ", l.db, l.table))
		}
		return nil, errors.New(msg + "; " + l.modeWayOut())
	}
	if l.mode != connectors.ModeUpsert && l.opts.engine == "" && strings.Contains(st.engine, "ReplacingMergeTree") {
		// An upsert table (a MODE edited in the file): its merges keep
		// one row per key, so the changes written there would be merged
		// away, and the live-rows view would show them.
		return nil, fmt.Errorf("existing table %s.%s is %s: MODE %s keeps every change, which ReplacingMergeTree merges away (one row per key); %s",
			l.db, l.table, st.engine, strings.ToLower(l.mode.String()), l.modeWayOut())
	}
	if l.mode == connectors.ModeUpsert && !l.keyGiven && len(st.sortKey) > 0 && !sameColumnSet(st.sortKey, l.key) && l.hasColumns(st.sortKey) {
		// A key that comes from the source's primary key, changed by a
		// DDL made while etlq was stopped: the table keeps its ORDER BY
		// (docs/schema-changes.md), and what writes tombstones by key (a
		// truncate, the end of a re-read) must name its columns. With the
		// source's new key, every tombstone had the table's key columns
		// at their default and they replaced each other: one row was
		// removed, the others stayed (TestPrimaryKeyChangedWhileStopped).
		slog.Info("clickhouse: the source's primary key is not the table's ORDER BY (changed while etlq was stopped?): the table keeps its key", "table", l.db+"."+l.table, "order_by", strings.Join(st.sortKey, ", "), "source_key", strings.Join(l.key, ", "))
		l.key = append([]string(nil), st.sortKey...)
	}
	if l.mode == connectors.ModeUpsert && l.keyGiven && !sameColumnSet(st.sortKey, l.key) {
		// ReplacingMergeTree keeps one row per sorting key: rows of
		// different keys of the pipeline would replace each other (a KEY
		// edited in the file), or one key's rows would not (new rows
		// written beside the old ones). (A key that comes from the
		// source's primary key, changed by a DDL, keeps the table's:
		// docs/schema-changes.md.)
		return nil, fmt.Errorf("existing table %s.%s is ORDER BY %s, the pipeline's KEY is %s: ClickHouse keeps one row per ORDER BY key, so rows would replace each other or stay beside their newer versions; "+
			"to change the key, stop etlq, drop the table %s.%s and its view %s.%s%s (apply creates them with the new key and reads the source table again), or write INTO a new table",
			l.db, l.table, "("+strings.Join(st.sortKey, ", ")+")", "("+strings.Join(l.key, ", ")+")", l.db, l.table, l.db, l.table, currentView)
	}
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 && schemaChanges == "ignore" {
		// Write only the columns the table has.
		drop := map[string]bool{}
		for _, c := range missing {
			if c.key {
				return nil, fmt.Errorf("existing table %s.%s lacks key column %q", l.db, l.table, c.name)
			}
			drop[c.name] = true
		}
		kept := l.cols[:0:0]
		for _, c := range l.cols {
			if !drop[c.name] {
				kept = append(kept, c)
			}
		}
		l.cols, missing = kept, nil
	}
	if deferChanges && schemaChanges == "evolve" && (len(missing) > 0 || len(l.retype) > 0) {
		skip := map[string]bool{}
		for _, c := range missing {
			skip[c.name] = true
		}
		for _, c := range l.retype {
			skip[c.name] = true
		}
		have := map[string]string{}
		for _, c := range st.columns {
			have[c.name] = c.typ
		}
		kept, user := l.cols[:0:0], 0
		for i, c := range l.cols {
			if c.key && skip[c.name] {
				// A key column stays in the layout, with the table's
				// (narrower) type: the batches that bring the wider one
				// copy the table (rekey.go).
				if t := arrowOfCH(have[c.name]); t != nil {
					f := c.field
					f.Type = t
					if m, err := mapType(f, l.version); err == nil {
						c.field, c.m = f, m
					}
				}
			}
			if !skip[c.name] || c.key {
				kept = append(kept, c)
				if i < l.user {
					user++
				}
			}
		}
		l.user = user
		keyMissing := missing[:0:0]
		for _, c := range missing {
			if c.key {
				keyMissing = append(keyMissing, c)
			}
		}
		l.cols, missing, l.deferred = kept, keyMissing, true
		l.retype = nil
	}
	var out []string
	if len(l.retype) > 0 {
		if schemaChanges != "evolve" {
			return nil, fmt.Errorf("existing table %s.%s has columns of another type (schema_changes = %q)", l.db, l.table, schemaChanges)
		}
		have := map[string]string{}
		for _, c := range st.columns {
			have[c.name] = c.typ
		}
		var mods []string
		for _, c := range l.retype {
			if c.key {
				continue // copied by the writer (rekey.go)
			}
			inner, isNull := unwrapNullable(have[c.name])
			if !isNull && c.nullable && normType(inner) == normType(c.m.base) {
				// NOT NULL dropped in the source.
				mods = append(mods, modifyColumn(c.name, c.chType(), st.defaults))
			} else if t := arrowOfCH(inner); t != nil && exec.Widens(t, c.field.Type) {
				// (A wider table column takes the values as they are.)
				mods = append(mods, modifyColumn(c.name, c.chType(), st.defaults))
			}
		}
		if len(mods) > 0 {
			out = append(out, "ALTER TABLE "+l.qualified()+" "+strings.Join(mods, ", "))
		}
	}
	if len(missing) > 0 {
		if schemaChanges != "evolve" {
			names := make([]string, len(missing))
			for i, c := range missing {
				names[i] = fmt.Sprintf("%q %s", c.name, c.chType())
			}
			return nil, fmt.Errorf("existing table %s.%s lacks columns %s", l.db, l.table, strings.Join(names, ", "))
		}
		out = append(out, l.addColumns(missing))
	}
	// (The view: ensureView, after these.)
	return out, nil
}

// modeWayOut says how to change the MODE of a pipeline whose table was
// made for another.
func (l *tableLayout) modeWayOut() string {
	view := ""
	if l.mode != connectors.ModeUpsert {
		view = " and its view " + l.db + "." + l.table + currentView
	}
	return fmt.Sprintf("to change the MODE, stop etlq, drop the table %s.%s%s (apply creates it for the new mode and reads the source table again), or write INTO a new table", l.db, l.table, view)
}

// sameColumnSet reports whether a and b hold the same column names, in
// any order.
// hasColumns reports whether the layout writes every column of names.
func (l *tableLayout) hasColumns(names []string) bool {
	for _, n := range names {
		found := false
		for _, c := range l.cols {
			found = found || c.name == n
		}
		if !found {
			return false
		}
	}
	return true
}

func sameColumnSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	have := map[string]bool{}
	for _, c := range a {
		have[c] = true
	}
	for _, c := range b {
		if !have[c] {
			return false
		}
	}
	return true
}

// plannedColumns are the columns the existing table st has once prepare's
// statements ran: its own, then the layout's it lacks (ADD COLUMN
// appends).
func plannedColumns(l *tableLayout, st tableState) []existingColumn {
	out := append([]existingColumn(nil), st.columns...)
	have := map[string]bool{}
	for _, c := range st.columns {
		have[c.name] = true
	}
	for _, c := range l.columns() {
		if !have[c.name] {
			out = append(out, c)
		}
	}
	return out
}

// Plan returns the DDL Open would run for t and the values t's columns
// cannot hold exactly. It changes nothing.
func (s *Sink) Plan(ctx context.Context, t connectors.Target) (ddl []string, problems []connectors.Problem, err error) {
	conn, l, st, err := s.layoutState(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	ddl, err = prepare(l, st, l.opts.schemaChanges, false)
	if err != nil {
		// An existing table that does not match: Open refuses it before
		// anything is written, so check reports it as an error too.
		return nil, l.problems, err
	}
	if l.mode == connectors.ModeUpsert && st.exists {
		vs, err := readViewState(ctx, conn, l.db, l.table)
		if err != nil {
			return nil, nil, s.errorf("reading %s.%s: %v", l.db, l.table+currentView, err)
		}
		ddl = append(ddl, viewRepair(l.version, l.db, l.table, vs, viewColumns(plannedColumns(l, st)))...)
	}
	if lost := missingUserColumns(l, st); st.exists && len(lost) > 0 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+l.qualified()).Scan(&n); err == nil && n > 0 {
			l.problems = append(l.problems, connectors.Problem{ApplyActs: true, Msg: fmt.Sprintf("existing table %s.%s (%d rows) lacks column(s) %s: apply adds them when a DDL since the last checkpoint added them (with the source's DEFAULT), or when the pipeline's TRANSFORM gained them since the last run, or the pipeline is new to the checkpoint or its INTO moved onto this table (a table another pipeline writes too: check's note says so); if they were dropped outside etlq, apply refuses to re-create them empty: re-snapshot the table",
				l.db, l.table, n, strings.Join(lost, ", "))})
		}
	}
	if kept := keptColumns(l, st); len(kept) > 0 {
		l.problems = append(l.problems, connectors.Problem{Msg: keptColumnsText(l, kept)})
	}
	return ddl, l.problems, nil
}

// keptColumns returns, for a pipeline edited since the last run, the
// columns of the existing table st the layout l does not write: an output
// column removed or renamed in its TRANSFORM (or one dropped in the
// source before). A pipeline not edited gets none: a column dropped in the
// source stays by design, for a later ADD of it
// (docs/schema-changes.md). Not a column with a
// DEFAULT, MATERIALIZED or ALIAS expression: ClickHouse computes it for
// the rows written (a column of the user's own, or one a source's ADD
// with a DEFAULT made).
func keptColumns(l *tableLayout, st tableState) []existingColumn {
	if !st.exists || !l.edited {
		return nil
	}
	have := map[string]bool{}
	for _, c := range l.cols {
		have[c.name] = true
	}
	var out []existingColumn
	for _, c := range st.columns {
		if !have[c.name] && !st.defaulted[c.name] {
			out = append(out, c)
		}
	}
	return out
}

// keptColumnsText says that the columns kept stay, what the rows written
// from now on hold there, and how to drop them. They are not dropped by
// etlq: their values in a changelog or append table's rows are the only
// copy of the history, a column dropped in the source is the one a later
// ADD of it fills, and the ALTER is the user's to make when no query
// reads them any more.
func keptColumnsText(l *tableLayout, kept []existingColumn) string {
	names := make([]string, len(kept))
	drops := make([]string, len(kept))
	var zero []string
	for i, c := range kept {
		names[i] = c.name
		drops[i] = "DROP COLUMN " + quote(c.name)
		if !strings.HasPrefix(c.typ, "Nullable(") {
			zero = append(zero, c.name+" "+c.typ)
		}
	}
	hold := "NULL"
	if len(zero) > 0 {
		hold = "NULL, or the type's zero where the column is not Nullable (" + strings.Join(zero, ", ") + ": 0, '' or 1970-01-01 — a value no row had)"
	}
	view := ""
	if l.mode == connectors.ModeUpsert {
		view = fmt.Sprintf(" and DROP TABLE %s.%s (its view: apply makes it again with the table's columns)", quote(l.db), quote(l.table+currentView))
	}
	return fmt.Sprintf("existing table %s.%s has column(s) %s the pipeline does not write (removed or renamed in its TRANSFORM, or dropped in the source): they stay, and the rows written from now on hold %s there (in an upsert table read again after an edit of the pipeline, every row; a changelog or append table keeps the old rows' values); to drop them, stop etlq and run ALTER TABLE %s %s%s",
		l.db, l.table, strings.Join(names, ", "), hold, l.qualified(), strings.Join(drops, ", "), view)
}

// missingUserColumns returns the user columns of l the existing table st
// lacks.
func missingUserColumns(l *tableLayout, st tableState) []string {
	have := map[string]bool{}
	for _, c := range st.columns {
		have[c.name] = true
	}
	var out []string
	for i := 0; i < l.user && i < len(l.cols); i++ {
		if !have[l.cols[i].name] {
			out = append(out, l.cols[i].name)
		}
	}
	return out
}

// Open creates the target database, table and view when missing, or checks
// an existing table (adding the columns it lacks when schema_changes is
// evolve), and returns a writer. Nothing is written when the existing table
// does not match.
func (s *Sink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	// The run has started: ClickHouse answered when the file was loaded,
	// so a connection that fails now (refused, cut, a handshake timed
	// out) is waited for, as an insert waits.
	var conn driver.Conn
	var l *tableLayout
	err := retrying(ctx, "connecting", t.Name, s.maxBackoff(t), func() (err error) {
		conn, l, err = s.layoutFor(ctx, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Each attempt reads the table first: a CREATE cut off with
	// ClickHouse is not made twice.
	created := false
	var kept []existingColumn
	err = retrying(ctx, "creating or checking the table", t.Name, l.opts.maxBackoff, func() error {
		st, err := readTableState(ctx, conn, l.db, l.table)
		if err != nil {
			return s.wrapf(err, "reading %s.%s: %v", l.db, l.table, err)
		}
		created = created || !st.exists
		kept = keptColumns(l, st)
		stmts, err := prepare(l, st, l.opts.schemaChanges, true)
		if err != nil {
			return err
		}
		if err := s.execDDL(ctx, conn, l.version, stmts); err != nil {
			return err
		}
		if l.mode != connectors.ModeUpsert {
			return nil
		}
		// The view: made when missing, made again when a stop left it
		// with other columns than the table's (or side views).
		return s.ensureView(ctx, conn, l.version, l.db, l.table)
	})
	if err != nil {
		return nil, err
	}
	if len(kept) > 0 {
		slog.Warn("clickhouse: "+keptColumnsText(l, kept), "pipeline", t.Pipeline)
	}
	w := newWriter(s, conn, l, t)
	w.created = created
	return w, nil
}

// execDDL runs statements in order. No settings are sent: 18.16 knows no
// allow_experimental_decimal_type (Decimal needs none there) and rejects
// unknown settings.
func (s *Sink) execDDL(ctx context.Context, conn driver.Conn, v serverVersion, stmts []string) error {
	for _, q := range stmts {
		if err := conn.Exec(ctx, q); err != nil {
			return &ddlError{msg: s.errorf("%v (running %s)", err, q).Error(), cause: err}
		}
	}
	return nil
}

// ddlError is a failed DDL statement: its message is redacted, its cause
// kept for retryable (a schema change while ClickHouse is away is retried
// as an insert is).
type ddlError struct {
	msg   string
	cause error
}

func (e *ddlError) Error() string { return e.msg }
func (e *ddlError) Unwrap() error { return e.cause }

// Close closes the connection pool. Writers must be closed first.
func (s *Sink) Close() error {
	s.awaitDrops(closeDropWait)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, c := range s.idle {
		c.close()
	}
	s.idle = nil
	if s.conn != nil {
		return s.conn.Close()
	}
	return nil
}

// backoff returns the wait before retry n (0-based): 100ms doubling up to max.
func backoff(n int, max time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
