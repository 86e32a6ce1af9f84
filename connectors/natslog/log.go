// Package natslog is etlq's change log on NATS JetStream (docs/scale-out.md):
// `etlq capture` publishes a source's change batches into a stream, one
// subject per table and key partition, and `etlq apply --log` workers read
// the partitions they hold a lease on, each through its own durable
// consumer, and acknowledge a message once its rows are at the sink.
package natslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
)

// DefaultPartitions is the number of key partitions of a new stream.
const DefaultPartitions = 8

// Log is a connection to the NATS server holding the change log, and the
// namespace (the URL's path, "etlq" by default) its streams are named in.
type Log struct {
	nc *nats.Conn
	js nats.JetStreamContext
	ns string
	// server is the log's server, without credentials, for messages
	// (nats://host:port).
	server string
	// ctx, patience and log are how requests wait for a server that
	// does not answer (wait.go): until ctx ends, at most patience (0: no
	// limit), saying so to log.
	ctx      context.Context
	patience time.Duration
	log      *slog.Logger

	mu          sync.Mutex
	schemaKV    map[string]nats.KeyValue // by bucket
	schemaCache map[string][]byte        // schema messages by bucket/hash
}

// Open connects to a log URL, nats://host:port[/namespace], or
// tls://host:port[/namespace] for TLS (the system's CAs), with the
// parameters tls_ca (a PEM CA bundle: TLS, the server's certificate
// verified against it), tls_cert and tls_key (a client certificate, both
// or neither). The client reconnects forever after a lost connection;
// operations in between fail and are retried by their callers.
//
// A request the server does not answer (a timeout on a busy machine, the
// server restarting) is tried again for up to a minute (wait.go); Dial
// is Open for a process that runs until stopped.
func Open(raw string) (*Log, error) {
	return dial(context.Background(), raw, nil, openPatience)
}

// Dial is Open for the capture and the workers, which run until stopped:
// a server that refuses the connection or does not answer it (not
// started yet, restarting, too busy to answer within the client's
// timeout) is waited for, and so is every request of the log the server
// does not answer, until ctx ends; log says what is waited for. Real
// errors (TLS, authorization, a bad URL) are returned at once.
func Dial(ctx context.Context, raw string, log *slog.Logger) (*Log, error) {
	return dial(ctx, raw, log, 0)
}

func dial(ctx context.Context, raw string, log *slog.Logger, patience time.Duration) (*Log, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if connectors.UnescapedPassword(raw) {
		return nil, errors.New("log: " + connectors.UnescapedPasswordHint)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return nil, fmt.Errorf("log %q: want nats://host:port[/namespace] (tls://… or ?tls_ca=… for TLS)", raw)
	}
	ns := strings.Trim(u.Path, "/")
	if ns == "" {
		ns = "etlq"
	}
	if token(strings.ReplaceAll(ns, "_", "")) != strings.ReplaceAll(ns, "_", "") {
		return nil, fmt.Errorf("log %q: the namespace %q may hold only letters, digits, _ and -", raw, ns)
	}
	opts := []nats.Option{nats.Name("etlq"), nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond), nats.RetryOnFailedConnect(false),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			slog.Warn("log: NATS client error", "subject", subject, "error", err.Error())
		})}
	q := u.Query()
	ca, cert, key := q.Get("tls_ca"), q.Get("tls_cert"), q.Get("tls_key")
	for k := range q {
		if k != "tls_ca" && k != "tls_cert" && k != "tls_key" {
			return nil, fmt.Errorf("log %s: unknown parameter %q (the parameters are tls_ca, tls_cert and tls_key)", u.Host, k)
		}
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("log %s: tls_cert and tls_key go together (a client certificate and its key)", u.Host)
	}
	secure := u.Scheme == "tls" || ca != "" || cert != ""
	if secure {
		opts = append(opts, nats.Secure())
	}
	if ca != "" {
		if _, err := os.Stat(ca); err != nil {
			return nil, fmt.Errorf("log %s: tls_ca: %v", u.Host, err)
		}
		opts = append(opts, nats.RootCAs(ca))
	}
	if cert != "" {
		opts = append(opts, nats.ClientCert(cert, key))
	}
	srv := url.URL{Scheme: "nats", Host: u.Host, User: u.User}
	if secure {
		srv.Scheme = "tls"
	}
	server := (&url.URL{Scheme: srv.Scheme, Host: u.Host}).String()
	var nc *nats.Conn
	start, delay := time.Now(), 250*time.Millisecond
	var warned time.Time
	for {
		nc, err = nats.Connect(srv.String(), opts...)
		if err == nil {
			break
		}
		if patience > 0 || !unreachable(err) {
			return nil, fmt.Errorf("log %s: %w%s", u.Host, err, tlsHint(err, secure, ca))
		}
		if time.Since(warned) >= waitWarnEvery {
			log.Warn("log: the NATS server cannot be reached; trying again", "server", server, "error", err.Error(),
				"waited", time.Since(start).Round(time.Millisecond).String())
			warned = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the NATS server at %s: %w (last: %v)", server, context.Cause(ctx), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("log %s: %w", u.Host, err)
	}
	return &Log{nc: nc, js: js, ns: ns, server: server, ctx: ctx, patience: patience, log: log,
		schemaKV: map[string]nats.KeyValue{}, schemaCache: map[string][]byte{}}, nil
}

// tlsHint says what a TLS failure of the connection means.
func tlsHint(err error, secure bool, ca string) string {
	msg := err.Error()
	switch {
	case !secure && strings.Contains(msg, "x509"):
		return " (the server requires TLS and its certificate is not signed by a CA this system trusts: give its CA as ?tls_ca=/path/ca.pem)"
	case !secure && strings.Contains(msg, "secure connection"):
		return " (the server requires TLS: use tls://… or ?tls_ca=…)"
	case secure && strings.Contains(msg, "unknown authority") && ca != "":
		return " (the server's certificate is not signed by tls_ca " + ca + ")"
	case secure && strings.Contains(msg, "unknown authority"):
		return " (the server's certificate is not signed by a CA this system trusts: give its CA as ?tls_ca=/path/ca.pem)"
	case secure && (strings.Contains(msg, "doesn't contain any IP SANs") || strings.Contains(msg, "certificate is valid for")):
		return " (the server's certificate does not name the host of the URL: connect by a name it holds)"
	case secure && (strings.Contains(msg, "first record does not look like a TLS handshake") || strings.Contains(msg, "tls: ") && strings.Contains(msg, "handshake")):
		return " (TLS failed: does the server speak TLS on this port?)"
	}
	return ""
}

// Close drains the connection: publishes and acknowledgements sent are
// delivered first.
func (l *Log) Close() error {
	if l == nil || l.nc == nil {
		return nil
	}
	return l.nc.Drain()
}

// token makes s a valid subject token and stream name: bytes other than
// letters, digits and - become _XX (hex), so that distinct names stay
// distinct.
func token(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "_%02X", c)
	}
	return b.String()
}

// names are the JetStream names of one source's log.
type names struct {
	stream  string // ETLQ_<ns>_<source>
	prefix  string // <ns>.<source>
	control string // <prefix>.ctl: positions only, read by the capture
	leases  string // KV bucket of the workers' leases
	groups  string // KV bucket of the groups' version floors (floor.go)
	resnaps string // KV bucket of resnapshot requests (resnapshot.go)
	schemas string // KV bucket of the messages' Arrow schemas (schema.go)
	capture string // KV bucket of the capture lock (capturelock.go)
	beat    string // KV bucket of the capture's heartbeat (capturelock.go)
}

func (l *Log) names(source string) names {
	s := l.ns + "_" + token(source)
	p := l.ns + "." + token(source)
	return names{stream: s, prefix: p, control: p + ".ctl", leases: s + "_leases", groups: s + "_groups", resnaps: s + "_resnapshots", schemas: s + "_schemas", capture: s + "_capture", beat: s + "_heartbeat"}
}

// subject is where rows of a table's key partition go.
func (n names) subject(db, table string, part int) string {
	return n.prefix + ".t." + token(db) + "." + token(table) + "." + strconv.Itoa(part)
}

// partFilter matches every table's subject of one partition.
func (n names) partFilter(part int) string {
	return n.prefix + ".t.*.*." + strconv.Itoa(part)
}

// consumer is the durable consumer of a group's partition.
func consumer(group string, part int) string {
	return token(group) + "_p" + strconv.Itoa(part)
}

// description records the partition count in the stream's description
// (the servers of 2.9 keep no stream metadata).
func description(source string, parts int) string {
	return fmt.Sprintf("etlq change log of source %s; partitions=%d", source, parts)
}

func partitionsOf(desc string) (int, error) {
	_, v, ok := strings.Cut(desc, "partitions=")
	if !ok {
		return 0, fmt.Errorf("not an etlq log (description %q)", desc)
	}
	return strconv.Atoi(v)
}

// Retention is how much a new stream keeps: the buffer that lets sinks be
// down longer than the source keeps its binlog.
type Retention struct {
	MaxBytes int64
	MaxAge   time.Duration
}

// ensureStream creates the source's stream if it does not exist, with parts
// partitions, and returns the partition count it has.
func (l *Log) ensureStream(source string, parts int, ret Retention) (int, error) {
	n := l.names(source)
	info, err := l.streamInfo(n)
	if err == nil {
		return partitionsOf(info.Config.Description)
	}
	if !errors.Is(err, nats.ErrStreamNotFound) {
		return 0, fmt.Errorf("log: %w", err)
	}
	if err := l.notLoaded(n); err != nil {
		return 0, err // (a new stream would take the place of the one the server kept)
	}
	if parts <= 0 {
		parts = DefaultPartitions
	}
	cfg := &nats.StreamConfig{
		Name:        n.stream,
		Description: description(source, parts),
		Subjects:    []string{n.prefix + ".>"},
		Storage:     nats.FileStorage,
		Retention:   nats.LimitsPolicy,
		Discard:     nats.DiscardOld,
		MaxBytes:    ret.MaxBytes,
		MaxAge:      ret.MaxAge,
		Duplicates:  2 * time.Minute,
		AllowDirect: true,
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	// (Tried again while the server does not answer: an AddStream of
	// the same configuration is answered with the stream.)
	if err := l.wait(fmt.Sprintf("creating the JetStream stream %q", n.stream), func() error {
		_, err := l.js.AddStream(cfg)
		return err
	}); err != nil {
		if strings.Contains(err.Error(), "insufficient") && cfg.MaxBytes > 0 {
			return 0, fmt.Errorf("log: %w (the server reserves --max-bytes, %d bytes, of its JetStream storage: lower it or give the server more)", err, cfg.MaxBytes)
		}
		return 0, fmt.Errorf("log: %w", err)
	}
	return parts, nil
}

// partitions returns the partition count of an existing stream.
func (l *Log) partitions(source string) (int, *nats.StreamInfo, error) {
	n := l.names(source)
	info, err := l.streamInfo(n)
	if err != nil {
		if errors.Is(err, nats.ErrStreamNotFound) {
			if err := l.notLoaded(n); err != nil {
				return 0, nil, err
			}
			return 0, nil, fmt.Errorf("log: stream %s is not on the NATS server at %s (has `etlq capture` run?): %w", n.stream, l.server, nats.ErrStreamNotFound)
		}
		return 0, nil, fmt.Errorf("log: %w", err)
	}
	p, err := partitionsOf(info.Config.Description)
	return p, info, err
}

// gone says whether the source's stream, as made at created, is no longer
// on the server: deleted, made again since, or lost with the server's
// storage (a nats-server restarted without its storage directory). Nil
// while the server cannot say (away: the caller tries again). what says
// what to do about it.
func (l *Log) gone(n names, created time.Time, what string) error {
	info, err := l.js.StreamInfo(n.stream)
	switch {
	case errors.Is(err, nats.ErrStreamNotFound):
		if err := l.notLoaded(n); err != nil {
			return err
		}
		return fmt.Errorf("log: stream %s is no longer on the NATS server (deleted, or the server restarted without its storage directory): the changes it held that workers had not read are lost, %s; %s", n.stream, lostUntilCapture, what)
	case err != nil:
		return nil
	case !info.Created.Equal(created):
		return fmt.Errorf("log: stream %s was made again since this process opened it (created %s, not %s): the changes the old one held that workers had not read are lost, %s; %s",
			n.stream, info.Created.Local().Format(time.RFC3339Nano), created.Local().Format(time.RFC3339Nano), lostUntilCapture, what)
	}
	return nil
}

// lostUntilCapture is what else a stream gone or made again has cost: a
// new stream starts where the source is when its capture starts, so the
// changes between the old stream's end and that start never reach the
// targets that keep changes as rows. (Before, the message named only the
// changes the stream held: a trial's append target also lacked the 50 s
// between the capture's stop and its restart, unsaid.)
const lostUntilCapture = "and so are the source's changes from the old stream's end until a capture runs again: a new stream starts at the source's position of its start — " +
	"pipelines with SNAPSHOT initial begin it with a snapshot of their tables, which brings upsert targets back equal to the source, " +
	"but append and changelog targets, and every pipeline with SNAPSHOT never, never get the changes made in between"

// notLoaded returns an error when the source's stream is not on the
// server but its schemas bucket is (the caller found the stream missing).
// The capture makes the bucket with the stream's first message and a
// server that lost its storage directory lost both; one started again
// with its storage but with less JetStream storage than the stream
// reserves (max_file_store below its max bytes) loads the buckets and not
// the stream: its messages are still on its disk, and a new stream of the
// name would take their place. A stream deleted by hand without its
// buckets looks the same: etlq status --drop starts over.
//
// The stream and the buckets are deleted one after the other (status
// --drop, DeleteSource): a bucket still there a second later is not one
// about to go.
func (l *Log) notLoaded(n names) error {
	for i := 0; i < 2; i++ {
		if i > 0 {
			time.Sleep(time.Second)
			_, err := l.streamInfo(n)
			if err == nil {
				return nil // there again
			}
			if !errors.Is(err, nats.ErrStreamNotFound) {
				return fmt.Errorf("log: %w", err)
			}
		}
		// Asked until the server answers: a bucket taken for missing
		// because the server was slow to say would let the capture make
		// a new stream over the one the server did not load.
		_, err := waitFor(l, fmt.Sprintf("the KV bucket %q", n.schemas), func() (nats.KeyValue, error) { return l.js.KeyValue(n.schemas) })
		if errors.Is(err, nats.ErrBucketNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("log: %w", err)
		}
	}
	return notLoadedError{fmt.Sprintf("log: stream %s is not on the NATS server, but the log's bucket %s is: the server kept its storage and did not load the stream — at its start its own log says why, `Error recreating stream %q: …` (`insufficient storage resources available`: the stream reserves its max bytes of the server's JetStream storage, so give the server that much again in max_file_store); restart the server with what it needs, then etlq: the stream's messages are on its disk, nothing is lost. If the stream was deleted by hand, the changes it held that workers had not read are lost: start over with etlq status FILE --log … --drop, then etlq capture (a new stream, beginning with a snapshot)", n.stream, n.schemas, n.stream)}
}

// notLoadedError is notLoaded's.
type notLoadedError struct{ msg string }

func (e notLoadedError) Error() string { return e.msg }

// NotLoaded reports whether err says that a source's stream is missing
// while its buckets are there (notLoaded).
func NotLoaded(err error) bool {
	var e notLoadedError
	return errors.As(err, &e)
}

// NoStream reports whether err says that a source has no stream.
func NoStream(err error) bool { return errors.Is(err, nats.ErrStreamNotFound) }

// DeleteSource removes a source's stream, its lease bucket and its groups'
// version floors (tests, and an operator starting over).
func (l *Log) DeleteSource(source string) error {
	n := l.names(source)
	err := l.js.DeleteStream(n.stream)
	if err != nil && !errors.Is(err, nats.ErrStreamNotFound) {
		return err
	}
	l.mu.Lock()
	delete(l.schemaKV, n.schemas)
	for k := range l.schemaCache {
		if strings.HasPrefix(k, n.schemas+"/") {
			delete(l.schemaCache, k)
		}
	}
	l.mu.Unlock()
	for _, b := range []string{n.leases, n.groups, n.resnaps, n.schemas, n.capture, n.beat} {
		err = l.js.DeleteKeyValue(b)
		if err != nil && !errors.Is(err, nats.ErrStreamNotFound) && !errors.Is(err, nats.ErrBucketNotFound) {
			return err
		}
	}
	return nil
}

// keyValue binds to the KV bucket, creating it with cfg when it does not
// exist and cfg is set. While the connection is away (the server
// restarting, unreachable) it says so: the client's own error then is
// "key-value requires at least server version 2.6.2", which it says of any
// server it is not connected to.
//
// While the server does not answer it tries again (wait.go); its errors
// name the bucket and the server.
func (l *Log) keyValue(bucket string, cfg *nats.KeyValueConfig) (nats.KeyValue, error) {
	return waitFor(l, fmt.Sprintf("the KV bucket %q", bucket), func() (nats.KeyValue, error) {
		if !l.nc.IsConnected() {
			// A connection closed for good (Close, or the client gave up
			// reconnecting) never comes back: no waiting for it.
			cause := nats.ErrDisconnected
			if l.nc.IsClosed() {
				cause = nats.ErrConnectionClosed
			}
			return nil, fmt.Errorf("not connected to the NATS server (%s): %w", strings.ToLower(l.nc.Status().String()), cause)
		}
		kv, err := l.js.KeyValue(bucket)
		if errors.Is(err, nats.ErrBucketNotFound) && cfg != nil {
			if kv, err = l.js.CreateKeyValue(cfg); err != nil {
				// Another process made it meanwhile (two workers starting
				// at once; nats-server 2.9 may answer the second with
				// "subjects overlap with an existing stream"), or this
				// one did and its answer was lost: open it.
				if kv2, err2 := l.js.KeyValue(bucket); err2 == nil {
					return kv2, nil
				}
			}
		}
		return kv, err
	})
}

// streamInfo asks for the source's stream until the server answers.
func (l *Log) streamInfo(n names) (*nats.StreamInfo, error) {
	return waitFor(l, fmt.Sprintf("the JetStream stream %q", n.stream), func() (*nats.StreamInfo, error) { return l.js.StreamInfo(n.stream) })
}

// msg reads the stream's message seq until the server answers
// (nats.ErrMsgNotFound, wrapped, when it has none).
func (l *Log) msg(n names, seq uint64, opts ...nats.JSOpt) (*nats.RawStreamMsg, error) {
	return waitFor(l, fmt.Sprintf("message %d of the JetStream stream %q", seq, n.stream), func() (*nats.RawStreamMsg, error) {
		return l.js.GetMsg(n.stream, seq, opts...)
	})
}

// get reads a key of a bucket until the server answers
// (nats.ErrKeyNotFound, wrapped, when it has none).
func (l *Log) get(kv nats.KeyValue, key string) (nats.KeyValueEntry, error) {
	return waitFor(l, fmt.Sprintf("key %q of the KV bucket %q", key, kv.Bucket()), func() (nats.KeyValueEntry, error) { return kv.Get(key) })
}

// put stores a key of a bucket, trying again until the server answers
// (a put is idempotent).
func (l *Log) put(kv nats.KeyValue, key string, val []byte) error {
	return l.wait(fmt.Sprintf("storing key %q in the KV bucket %q", key, kv.Bucket()), func() error {
		_, err := kv.Put(key, val)
		return err
	})
}

// keys lists a bucket's keys until the server answers (none: nil).
func (l *Log) keys(kv nats.KeyValue) ([]string, error) {
	keys, err := waitFor(l, fmt.Sprintf("the keys of the KV bucket %q", kv.Bucket()), func() ([]string, error) {
		keys, err := kv.Keys()
		if errors.Is(err, nats.ErrNoKeysFound) {
			return nil, nil
		}
		return keys, err
	})
	return keys, err
}
