// Package mysql is the MySQL/MariaDB source: it snapshots tables with
// chunked, consistent SELECTs and follows the binlog, and delivers both as
// Arrow change batches laid out as exec/batch.go describes.
//
// Type mapping, zero dates and the other value conventions are documented in
// docs/types.md ("MySQL → Arrow"); the snapshot/binlog hand-over is argued in
// docs/snapshot.md.
package mysql

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
)

// Kind is the source kind name in the language.
const Kind = "mysql"

func init() {
	connectors.RegisterSource(Spec(), func(name, dsn string, opts map[string]any) (connectors.Source, error) {
		return NewSource(name, dsn, opts)
	})
}

// Spec returns the mysql source spec: its options with defaults and docs.
// Source options go in CREATE SOURCE … WITH; the stream options
// snapshot_parallelism, chunk_rows, start_at and schema_changes may also
// be given per pipeline (planner.PipelineOptions; on_binlog_gap and
// snapshot_on_purge may not).
func Spec() connectors.Spec {
	return connectors.Spec{
		Kind: Kind,
		Doc:  "MySQL or MariaDB (mysql://user:password@host:3306[/database]; the only ?parameters are ssl_mode, ssl_ca, ssl_cert and ssl_key, other settings are the options below): a consistent chunked snapshot, then the row-based binlog (binlog_format=ROW, binlog_row_image=FULL).",
		Options: []connectors.Option{
			{Name: "server_id", Type: connectors.OptInt, Min: 1, Max: 4294967295, Doc: "replica server id used for the binlog connection; default: a stable id in 1000..2^31 derived from the source name, the host and the state directory"},
			{Name: "flavor", Type: connectors.OptString, Enum: []string{"mysql", "mariadb"}, Doc: "server flavor; default: detected from SELECT VERSION()"},
			{Name: "snapshot_parallelism", Type: connectors.OptInt, Default: 4, Min: 1, Max: 1024, Doc: "connections reading snapshot chunks in parallel"},
			{Name: "chunk_rows", Type: connectors.OptInt, Default: 50000, Min: 1, Max: math.MaxInt64, Doc: "rows per snapshot chunk (primary key range)"},
			{Name: "start_at", Type: connectors.OptString, Doc: "for SNAPSHOT never without a checkpoint: 'latest' (default), 'earliest', 'binlog.000042:1337', a MariaDB GTID set (one GTID: after its transaction; one per domain, such as @@gtid_binlog_pos: each domain from its own GTID on, a domain it does not name from its first transaction unless skip_gtid_domains names it), or a timestamp 'YYYY-MM-DD HH:MM:SS' (UTC)"},
			{Name: "schema_changes", Type: connectors.OptString, Default: "evolve", Enum: []string{"evolve", "ignore", "fail"}, Doc: "on ALTER TABLE while streaming: evolve (batches carry the new columns), ignore (keep the old column set), fail (stop with an error naming the DDL)"},
			{Name: "on_binlog_gap", Type: connectors.OptString, Enum: []string{"fail", "resnapshot"}, Doc: "when the checkpoint's binlog position was purged on the server, or the checkpoint is another server's and cannot be placed in this one's binlog (no GTID, or its GTID is not there): fail (default), or resnapshot: take a new snapshot of the tables whose changes were lost — those read with SNAPSHOT initial, their upsert targets first emptied of the rows the snapshot does not bring back (a SNAPSHOT only table lost nothing; a SNAPSHOT never table takes no snapshot, and its lost changes are logged as an error, also when another pipeline reads it with SNAPSHOT initial)"},
			{Name: "skip_gtid_domains", Type: connectors.OptString, Doc: "MariaDB GTID domain ids, comma-separated ('1,7'), whose transactions are not read when a checkpoint taken on another server (after a failover) resumes on this one, or start_at gives a GTID set, and this server's binlog has transactions of those domains, which the checkpoint's server never had (the set does not name), before the checkpoint's place: by default such a domain is read from its first transaction, as a MariaDB replica given that GTID position reads it, and the resume fails when that transaction was purged (docs/snapshot.md, \"Checkpoints and resume\")",
				Check: func(v string) error { _, err := parseDomainList(v); return err }},
			{Name: "snapshot_on_purge", Type: connectors.OptBool, Default: false, Doc: "the old name of on_binlog_gap: true is on_binlog_gap = 'resnapshot'"},
			{Name: "binlog_expiry_warning", Type: connectors.OptDuration, Doc: "check, plan and apply warn when the checkpoint's binary log may be purged within this time (default: a quarter of the server's binlog_expire_logs_seconds / expire_logs_days)"},
			{Name: "heartbeat", Type: connectors.OptDuration, Default: "1s", Doc: "binlog heartbeat period; keeps lag and idle checkpoints honest"},
			{Name: "snapshot_position", Type: connectors.OptString, Default: "auto", Enum: []string{"auto", "watermark", "bracket"}, Doc: "how a snapshot chunk is placed in the binlog: auto (MariaDB: binlog_snapshot_position; MySQL: watermark, else bracket), watermark (low and high watermark rows committed into watermark_table around the read view), bracket (SHOW MASTER STATUS before and after: no writes, but a change committed as the read view begins can be missed)"},
			{Name: "watermark_table", Type: connectors.OptString, Default: defaultWatermarkTable, Doc: "table for snapshot watermark rows ('database.table'; created when missing; its writes must be in the binlog)"},
			{Name: "ssl_mode", Type: connectors.OptString, Default: SSLPreferred, Enum: sslModes, Doc: "TLS for every connection (binlog, snapshot, check, REPL), as the mysql client's --ssl-mode: disabled; preferred (TLS when the server offers it, unverified; else plain, with a WARN in the log); required (TLS or fail, unverified); verify_ca (the certificate chains to ssl_ca, else the system's CAs); verify_identity (verify_ca, and it names the DSN's host). Also a DSN parameter (?ssl_mode=…)"},
			{Name: "ssl_ca", Type: connectors.OptString, Doc: "PEM file of the certificate authorities that verify the server (verify_ca, verify_identity; default: the system's). Refused under disabled, preferred (the default) and required, which do not verify: the CA would not be used"},
			{Name: "ssl_cert", Type: connectors.OptString, Doc: "PEM file of a client certificate, for users created REQUIRE X509 (with ssl_key)"},
			{Name: "ssl_key", Type: connectors.OptString, Doc: "PEM file of the client certificate's private key"},
			{Name: "snapshot_protocol", Type: connectors.OptString, Default: "binary", Enum: []string{"binary", "text"}, Doc: "how snapshot rows are read: binary (prepared statements: numbers and dates as bytes, the cheapest for server and etlq), text (plain queries, for proxies without prepared statements)"},
		},
	}
}

// Config is a parsed mysql DSN plus options.
type Config struct {
	User, Password string
	Host           string
	Port           uint16
	DB             string
	ServerID       uint32
	Flavor         string // "" until detected
	Heartbeat      time.Duration
	// Stream defaults, overridable per request.
	Options map[string]any
	// parsed are the WITH options resolved against the spec.
	parsed *connectors.Options
	// TLS is the resolved ssl_mode, ssl_ca, ssl_cert and ssl_key.
	TLS *TLSConfig
	// dsnSSL holds the ssl_* parameters of the DSN.
	dsnSSL map[string]string
}

// ParseDSN parses mysql://user:pass@host:port[/db][?ssl_mode=…]. The
// password may be URL-escaped. The only DSN parameters are the TLS settings
// (ssl_mode, ssl_ca, ssl_cert, ssl_key), so that `etlq repl --source` can
// ask for TLS; any other parameter is an error rather than silently
// ignored: the source's settings are WITH options. ParseDSN reads no file:
// NewSource resolves the TLS settings.
func ParseDSN(dsn string) (*Config, error) {
	if looksGoSQLDriver(dsn) {
		return nil, fmt.Errorf("invalid mysql dsn: the go-sql-driver form user:password@tcp(host:port)/db is not accepted; write mysql://user:password@host:port/db")
	}
	if connectors.UnescapedPassword(dsn) {
		return nil, errors.New("invalid mysql dsn: " + connectors.UnescapedPasswordHint)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, dsnError(dsn, err)
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		if u.Scheme == "" {
			return nil, fmt.Errorf("invalid mysql dsn: want mysql://user:password@host:port[/database]")
		}
		return nil, fmt.Errorf("invalid mysql dsn: scheme %q, want \"mysql\"", u.Scheme)
	}
	var dsnSSL map[string]string
	if u.RawQuery != "" || u.ForceQuery {
		q, err := url.ParseQuery(u.RawQuery)
		var names []string
		for k := range q {
			if !isSSLOption(k) {
				names = append(names, strconv.Quote(k))
			}
		}
		sort.Strings(names)
		if err != nil || len(q) == 0 {
			return nil, fmt.Errorf("invalid mysql dsn: the part after '?' is not a list of parameters")
		}
		if len(names) > 0 {
			// Names only: a value may be a secret.
			return nil, fmt.Errorf("invalid mysql dsn: unknown parameter %s: the mysql source takes no DSN parameters but ssl_mode, ssl_ca, ssl_cert and ssl_key (its settings are WITH options such as server_id and flavor, see docs/connectors.md)",
				strings.Join(names, ", "))
		}
		dsnSSL = map[string]string{}
		for k, v := range q {
			if len(v) != 1 {
				return nil, fmt.Errorf("invalid mysql dsn: parameter %q given %d times", k, len(v))
			}
			dsnSSL[k] = v[0]
		}
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("invalid mysql dsn: unexpected '#' (escape it as %%23 in a password)")
	}
	c := &Config{Port: 3306, Host: u.Hostname()}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid mysql dsn: port %q", p)
		}
		c.Port = uint16(n)
	}
	if u.User != nil {
		c.User = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if c.User == "" {
		c.User = "root"
	}
	c.DB = strings.Trim(u.Path, "/")
	c.dsnSSL = dsnSSL
	return c, nil
}

func isSSLOption(k string) bool {
	for _, o := range sslOptions {
		if o == k {
			return true
		}
	}
	return false
}

// looksGoSQLDriver reports whether dsn is in go-sql-driver/mysql's form,
// user:password@tcp(host:port)/db, which url.Parse reads as something else.
func looksGoSQLDriver(dsn string) bool {
	if strings.Contains(dsn, "://") {
		return false
	}
	at := strings.LastIndex(dsn, "@")
	rest := dsn[at+1:]
	return strings.HasPrefix(rest, "tcp(") || strings.HasPrefix(rest, "unix(") || strings.HasPrefix(rest, "(")
}

// resolveTLS reads the TLS settings from the WITH options and the DSN
// parameters (one place per setting) and loads the files they name.
func (c *Config) resolveTLS(name string) error {
	vals := map[string]string{}
	for _, k := range sslOptions {
		inOpts := c.parsed.Given(k)
		d, inDSN := c.dsnSSL[k]
		switch {
		case inOpts && inDSN:
			return fmt.Errorf("source %q: %w", name, connectors.OptionErrorf(k, "%s is given both as a DSN parameter and a WITH option: keep one", k))
		case inOpts:
			vals[k] = c.parsed.String(k)
		case inDSN:
			vals[k] = d
		}
	}
	t, err := newTLSConfig(vals["ssl_mode"], vals["ssl_ca"], vals["ssl_cert"], vals["ssl_key"], c.Host)
	if err != nil {
		return fmt.Errorf("source %q: %w", name, err)
	}
	c.TLS = t
	return nil
}

// dsnError explains a DSN url.Parse refused without quoting any of its
// user info: url.Parse's message quotes the DSN, and an unescaped '@', '/'
// or '#' in the password makes it take part of the password for the host
// or port. When what follows the last '@' is a valid host, the password is
// the culprit; otherwise the host's own error is given.
func dsnError(dsn string, err error) error {
	scheme, rest, ok := strings.Cut(dsn, "://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("invalid mysql dsn: %s", connectors.RedactSecrets(err.Error()))
	}
	if _, herr := url.Parse(scheme + "://x@" + rest[at+1:]); herr != nil {
		var ue *url.Error
		if errors.As(herr, &ue) {
			herr = ue.Err
		}
		return fmt.Errorf("invalid mysql dsn: %v", herr)
	}
	return errors.New("invalid mysql dsn: " + connectors.UnescapedPasswordHint)
}

// Addr returns host:port.
func (c *Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))) }

// Source is a configured MySQL/MariaDB source.
type Source struct {
	name string
	cfg  *Config

	// atMark and atState are the last mark SchemaAt decoded.
	atMu    sync.Mutex
	atMark  []byte
	atState *markState

	mu         sync.Mutex
	version    string
	explicitID bool // server_id given in WITH
	// starts caches when each binary log was started (retention.go).
	starts map[string]time.Time
	// listed is the last listing of Tables with more than one table, and
	// described the schemas read for it, each handed out once by
	// Describe: planning a pattern describes every table it lists, which
	// one batch of queries does (readTables).
	listed    []connectors.TableRef
	listedAt  time.Time
	described map[connectors.TableRef]*table
	// connects counts the connections made (tests).
	connects atomic.Int64
}

// listingFresh is how long Describe may serve a table of the last listing
// from one batch read.
const listingFresh = 10 * time.Second

var _ connectors.Source = (*Source)(nil)

// NewSource makes a source from its DSN and WITH options. It does not
// connect.
func NewSource(name, dsn string, opts map[string]any) (*Source, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	connectors.RegisterSecret(cfg.Password)
	cfg.Options = map[string]any{}
	for k, v := range opts {
		cfg.Options[k] = v
	}
	spec := Spec()
	if err := connectors.UnknownOption(fmt.Sprintf("source %q", name), opts, spec.Options); err != nil {
		return nil, err
	}
	if cfg.parsed, err = connectors.ParseOptions(spec.Options, opts); err != nil {
		return nil, fmt.Errorf("source %q: %w", name, err)
	}
	if cfg.parsed.Given("server_id") {
		cfg.ServerID = uint32(cfg.parsed.Int("server_id"))
	} else {
		cfg.ServerID = DeriveServerID(name, "")
	}
	cfg.Flavor = cfg.parsed.String("flavor")
	if err := cfg.resolveTLS(name); err != nil {
		return nil, err
	}
	cfg.Heartbeat = cfg.parsed.Duration("heartbeat")
	_, explicit := opts["server_id"]
	return &Source{name: name, cfg: cfg, explicitID: explicit}, nil
}

// DeriveServerID returns the replica server_id of a source that sets none:
// a stable number in 1000..2^31 hashed from the source name and the
// instance (connectors.StreamRequest.Instance: the host and the state
// directory of the etlq process; "" when unknown). The name alone was not
// enough: two files whose sources share a name, run at once from two
// state directories, got the same id and disconnected each other from the
// binlog all the time. One process per state directory (its lock) makes
// the instance unique among the processes running at once, and stable
// across restarts.
func DeriveServerID(name, instance string) uint32 {
	h := fnv.New32a()
	h.Write([]byte("etlq:" + name))
	if instance != "" {
		h.Write([]byte{0})
		h.Write([]byte(instance))
	}
	return 1000 + h.Sum32()%(1<<31-1000)
}

// useInstance derives the server_id from the stream's instance when the
// source sets none. A stream of one pipeline alone (StreamRequest.Alone)
// runs beside the source's own stream in the same process: its id is
// derived from the source's id (set or derived) and the pipeline, so that
// the two do not disconnect each other.
func (s *Source) useInstance(instance, alone string) {
	if (s.explicitID || instance == "") && alone == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.explicitID && instance != "" {
		s.cfg.ServerID = DeriveServerID(s.name, instance)
	}
	if alone != "" {
		s.cfg.ServerID = DeriveServerID(fmt.Sprintf("%s:%d@%s", s.name, s.cfg.ServerID, alone), instance)
	}
}

// Name returns the source name.
func (s *Source) Name() string { return s.name }

// Config returns the parsed configuration.
func (s *Source) Config() *Config { return s.cfg }

// connect opens a plain client connection with the session settings every
// etlq query relies on: utf8mb4 results and UTC for TIMESTAMP values.
func (s *Source) connect(ctx context.Context) (*client.Conn, error) {
	return s.connectDial(ctx, (&net.Dialer{Timeout: 10 * time.Second}).DialContext)
}

func (s *Source) connectDial(ctx context.Context, dial client.Dialer) (*client.Conn, error) {
	s.connects.Add(1)
	c, err := s.dialTLS(ctx, dial)
	if err != nil {
		return nil, fmt.Errorf("connect to mysql %s as %q: %v", s.cfg.Addr(), s.cfg.User, s.cfg.TLS.explain(err))
	}
	if _, err := c.Execute("SET NAMES utf8mb4, time_zone = '+00:00'"); err != nil {
		c.Close()
		return nil, fmt.Errorf("set session on mysql %s: %v", s.cfg.Addr(), err)
	}
	if s.version == "" {
		s.detect(c)
	}
	return c, nil
}

// dialTLS connects with the source's TLS settings. Under ssl_mode =
// 'preferred', a server that offers no TLS is connected to in plain, and
// so is every later connection of the source (the binlog's included).
func (s *Source) dialTLS(ctx context.Context, dial client.Dialer) (*client.Conn, error) {
	s.mu.Lock()
	tc := s.cfg.TLS.tlsFor()
	s.mu.Unlock()
	withTLS := func(c *client.Conn) error {
		if tc != nil {
			c.SetTLSConfig(tc)
		}
		return nil
	}
	c, err := client.ConnectWithDialer(ctx, "", s.cfg.Addr(), s.cfg.User, s.cfg.Password, "", dial, withTLS)
	if err != nil && tc != nil && s.cfg.TLS.Mode == SSLPreferred && strings.Contains(err.Error(), errNoServerTLS) {
		s.mu.Lock()
		s.cfg.TLS.preferredPlainOK = true
		s.mu.Unlock()
		c, err = client.ConnectWithDialer(ctx, "", s.cfg.Addr(), s.cfg.User, s.cfg.Password, "", dial)
		if err == nil {
			warnPlain(s.name, s.cfg.Addr())
		}
	}
	return c, err
}

// plainWarned holds the targets (source name and address) whose fallback
// to plain under ssl_mode = 'preferred' this process has logged.
var plainWarned sync.Map

// warnPlain logs, once per source and address in the process, that
// ssl_mode = 'preferred' found a server without TLS and connected in plain:
// the mysql client falls back silently, and an operator who counted on
// encryption would not know.
func warnPlain(source, addr string) {
	if _, seen := plainWarned.LoadOrStore(source+"\x00"+addr, true); seen {
		return
	}
	slog.Warn("unencrypted connection: the server offers no TLS, so ssl_mode = 'preferred' connects in plain; set ssl_mode = 'disabled' to say so, or 'required' (or 'verify_identity') to refuse it",
		"source", source, "addr", addr)
}

// binlogTLS is the tls.Config of a binlog connection: nil for plain. It
// follows what the source's connections found under ssl_mode = 'preferred'.
func (s *Source) binlogTLS() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.TLS.tlsFor()
}

// detect reads the server version and, unless configured, the flavor.
func (s *Source) detect(c *client.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := c.Execute("SELECT VERSION()")
	if err != nil {
		return
	}
	v, _ := r.GetString(0, 0)
	s.version = v
	if s.cfg.Flavor == "" {
		if strings.Contains(strings.ToLower(v), "mariadb") {
			s.cfg.Flavor = "mariadb"
		} else {
			s.cfg.Flavor = "mysql"
		}
	}
}

// questionConn connects for one short question (Tables, Describe) that
// must end with ctx: until done is called, the end of ctx closes the
// connection. The go-mysql client reads without deadline once connected,
// so a server that accepted the connection but does not answer (a stopped
// mysqld, a lost network) would block the question for good, and Ctrl-C
// could not stop a DESCRIBE in the REPL.
func (s *Source) questionConn(ctx context.Context) (c *client.Conn, done func(), err error) {
	var mu sync.Mutex
	var raw net.Conn
	ended := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		ended = true
		if raw != nil {
			raw.Close()
		}
	})
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err = s.connectDial(ctx, func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if ended {
			nc.Close()
		}
		raw = nc
		return nc, nil
	})
	if err != nil {
		stop()
		return nil, nil, ctxErr(ctx, err)
	}
	return c, func() { stop(); c.Close() }, nil
}

// ctxErr is ctx's error once ctx has ended (the connection was closed
// because of it), else err.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Databases lists the databases other than the server's own
// (information_schema, mysql, performance_schema, sys).
func (s *Source) Databases(ctx context.Context) ([]string, error) {
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	r, err := c.Execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA " +
		"WHERE SCHEMA_NAME NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') ORDER BY SCHEMA_NAME")
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("list databases: %v", err))
	}
	out := make([]string, 0, r.RowNumber())
	for i := 0; i < r.RowNumber(); i++ {
		db, _ := r.GetString(i, 0)
		out = append(out, db)
	}
	return out, nil
}

// Tables lists the base tables whose database matches the pattern db and
// whose name matches pattern (path.Match: `*`, `?`, `\` escapes).
func (s *Source) Tables(ctx context.Context, db, pattern string) ([]connectors.TableRef, error) {
	if _, err := path.Match(db, ""); err != nil {
		return nil, fmt.Errorf("invalid database pattern %q: %v", db, err)
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("invalid table pattern %q: %v", pattern, err)
	}
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	// A system-versioned table is one when its period columns are the
	// implicit pair (versioned.go): declared ones are in COLUMNS.
	q := `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES t WHERE (TABLE_TYPE = 'BASE TABLE'
		OR TABLE_TYPE = 'SYSTEM VERSIONED' AND NOT EXISTS (SELECT 1 FROM information_schema.COLUMNS c
			WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.GENERATION_EXPRESSION IN ('ROW START', 'ROW END')))`
	// A server whose COLUMNS has no GENERATION_EXPRESSION (MySQL before
	// 5.7) has no versioned tables either.
	plain := "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'"
	var where string
	if lit, ok := literalPattern(db); ok {
		where = " AND TABLE_SCHEMA = " + quoteString(lit)
	} else {
		// A pattern over databases never reaches the server's own.
		where = " AND TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys', " +
			quoteString(strings.SplitN(defaultWatermarkTable, ".", 2)[0]) + ")"
	}
	r, err := c.Execute(q + where + " ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		r, err = c.Execute(plain + where + " ORDER BY TABLE_SCHEMA, TABLE_NAME")
	}
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("list tables of %q: %v", db, err))
	}
	var copies map[connectors.TableRef]connectors.TableRef
	if strings.ContainsAny(pattern, "*?[") {
		// pt-online-schema-change's copies under names of the user's
		// are helper tables too: no pattern takes one.
		var dbs []string
		if lit, ok := literalPattern(db); ok {
			dbs = []string{lit}
		}
		copies = ptOscCopies(c, dbs...)
	}
	var out []connectors.TableRef
	for i := 0; i < r.RowNumber(); i++ {
		d, _ := r.GetString(i, 0)
		t, _ := r.GetString(i, 1)
		okDB, _ := path.Match(db, d)
		okTable, _ := connectors.MatchTable(pattern, t)
		if _, cp := copies[connectors.TableRef{DB: d, Table: t}]; okDB && okTable && !cp {
			out = append(out, connectors.TableRef{DB: d, Table: t})
		}
	}
	if len(out) == 0 {
		if err := selectDenied(c, db, pattern); err != nil {
			return nil, err
		}
		if err := isView(c, db, pattern); err != nil {
			return nil, err
		}
	}
	if len(out) > 1 {
		s.mu.Lock()
		s.listed, s.listedAt, s.described = out, time.Now(), nil
		s.mu.Unlock()
	}
	return out, nil
}

// isView says so when a table named exactly is a view: it has no changes
// in the binary log (its base tables have them), and "no table matches"
// read as if there were nothing of the name; likewise for a
// system-versioned table etlq does not capture (versionedError). nil
// otherwise.
func isView(c *client.Conn, db, pattern string) error {
	dbName, ok1 := literalPattern(db)
	name, ok2 := literalPattern(pattern)
	if !ok1 || !ok2 {
		return nil
	}
	r, err := c.Execute("SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = " + quoteString(dbName) +
		" AND TABLE_NAME = " + quoteString(name))
	if err != nil || r.RowNumber() == 0 {
		return nil
	}
	switch typ, _ := r.GetString(0, 0); typ {
	case "VIEW":
		return viewError{connectors.TableRef{DB: dbName, Table: name}}
	case "SYSTEM VERSIONED":
		ref := connectors.TableRef{DB: dbName, Table: name}
		if decl, err := periodDecl(c, ref); err == nil && decl != "" {
			return versionedError{ref, decl}
		}
	}
	return nil
}

// viewError is isView's error; NotATable tells callers that the name is
// no table (a checkpoint may still know a table of that name).
type viewError struct{ ref connectors.TableRef }

func (e viewError) Error() string {
	return e.ref.String() + " is a view: a view has no changes in the binary log; read the tables it selects from"
}

func (viewError) NotATable() bool { return true }

// selectDenied tells a listing that found nothing because the user may not
// read the tables from one that found nothing because there is nothing:
// the server hides from information_schema the tables a user has no
// privilege on, so a replication user without SELECT saw "no table
// matches". It returns the missing SELECT, with its GRANT, for a database
// named exactly (a table named exactly: SELECT on it; a pattern: on the
// database); nil when the user may read there or it cannot tell.
func selectDenied(c *client.Conn, db, pattern string) error {
	dbName, ok := literalPattern(db)
	if !ok {
		return nil
	}
	// A table the user may not read answers ERROR 1142 whether it exists
	// or not; with SELECT on the database, one that does not exist
	// answers 1146. SHOW TABLES is no probe: it lists nothing, no error.
	on := quoteIdent(dbName) + ".*"
	probe := tableIdent(connectors.TableRef{DB: dbName, Table: "etlq_privilege_probe"})
	if t, ok := literalPattern(pattern); ok {
		on = tableIdent(connectors.TableRef{DB: dbName, Table: t})
		probe = on
	}
	_, err := c.Execute("SELECT 1 FROM " + probe + " LIMIT 0")
	if err == nil || !(strings.Contains(err.Error(), "ERROR 1142") || strings.Contains(err.Error(), "ERROR 1044")) {
		return nil
	}
	user, uerr := currentUser(c)
	if uerr != nil {
		return nil
	}
	g := connectors.MissingGrant{User: user, Privilege: "SELECT ON " + on,
		Why: "to snapshot it and read its schema", Grant: "GRANT SELECT ON " + on + " TO " + user + ";"}
	return fmt.Errorf("no table matches %s.%s that the user may see: %s", db, pattern, g)
}

// describedFromListing returns ref's schema from one read of the whole
// last listing, when ref is in it and it is fresh; nil otherwise.
func (s *Source) describedFromListing(c *client.Conn, ref connectors.TableRef) *table {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.listedAt) > listingFresh || !slices.Contains(s.listed, ref) {
		return nil
	}
	if s.described == nil {
		ts, err := readTables(c, s.listed)
		if err != nil {
			// One table the batch could not describe (a column type etlq
			// does not read) would fail them all: each is read alone, so
			// that the error names only its own.
			ts = map[connectors.TableRef]*table{}
		}
		s.described = ts
	}
	return s.takeDescribed(ref)
}

// takeDescribed hands out ref's schema from the listing's batch read once
// (s.mu held).
func (s *Source) takeDescribed(ref connectors.TableRef) *table {
	t := s.described[ref]
	delete(s.described, ref)
	return t
}

// literalPattern returns the one name a path.Match pattern matches when it
// has no wildcard (its \ escapes removed).
func literalPattern(p string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[':
			return "", false
		case '\\':
			if i+1 < len(p) {
				i++
			}
		}
		b.WriteByte(p[i])
	}
	return b.String(), true
}

// describedAlready returns ref's schema when the last listing's batch
// read has it, without a connection: planning 1,000 tables by a pattern
// connected 1,000 times (a handshake and a server thread each) only to be
// answered from memory.
func (s *Source) describedAlready(ref connectors.TableRef) *table {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.described == nil || time.Since(s.listedAt) > listingFresh {
		return nil
	}
	return s.takeDescribed(ref)
}

// Describe returns a table's current schema.
func (s *Source) Describe(ctx context.Context, ref connectors.TableRef) (*connectors.TableSchema, error) {
	if t := s.describedAlready(ref); t != nil {
		return t.tableSchema(), nil
	}
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if t := s.describedFromListing(c, ref); t != nil {
		return t.tableSchema(), nil
	}
	t, err := readTable(c, ref)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return t.tableSchema(), nil
}

// Close releases the source. Streams are closed by their own Close.
func (s *Source) Close() error { return nil }

// quoteString returns s as a SQL string literal.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString("\\\\")
		case 0:
			b.WriteString("\\0")
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// quoteIdent returns a back-quoted identifier.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func tableIdent(ref connectors.TableRef) string {
	return quoteIdent(ref.DB) + "." + quoteIdent(ref.Table)
}
