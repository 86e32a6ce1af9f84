package planner

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/etlq/etlq/connectors"
)

// targetAt is where pl writes, physically (Pipeline.TargetAt): the sink's
// connector, the server it reaches (the DSN's host and port, without user,
// password, database or parameters) or the file it writes, and the target
// inside it. The sink's declared name is not part of it: renaming a sink
// in the file moves no row.
func targetAt(d *SinkDecl, pl *Pipeline) string {
	if d == nil || pl.SinkKind == "" {
		return ""
	}
	switch pl.SinkKind {
	case "clickhouse":
		return "clickhouse " + serverAddress(d.DSN, "9000") + " " + pl.Target.Name
	case "file":
		p := filepath.Clean(pl.Target.Name)
		if !d.Implicit && d.DSN != "" && !filepath.IsAbs(p) && p != filepath.Clean(d.DSN) {
			// As the file sink joins them (file.Sink.Path).
			p = filepath.Join(d.DSN, p)
		}
		return "file " + p
	case "http":
		u := pl.Target.Name
		if u == "" {
			u = d.DSN
		}
		return "http " + withoutSecrets(u)
	case "stdout":
		return "stdout"
	}
	t := pl.SinkKind + " " + serverAddress(d.DSN, "")
	if pl.Target.Name != "" {
		t += " " + pl.Target.Name
	}
	return t
}

// serverAddress is the host:port a DSN reaches (the host in lower case,
// the port defaulted to port, or to the secure native port for
// ?secure=true), without user, password, path or parameters; the DSN
// without its secrets when it is no URL with a host.
func serverAddress(dsn, port string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return connectors.RedactDSN(dsn)
	}
	host := strings.ToLower(u.Hostname())
	p := u.Port()
	if p == "" && port != "" {
		p = port
		if s := strings.ToLower(u.Query().Get("secure")); s == "true" || s == "1" {
			p = "9440"
		}
	}
	if p == "" {
		return host
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + p
}

// withoutSecrets is a URL without its user information and secrets.
func withoutSecrets(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		s = u.String()
	}
	return connectors.RedactDSN(s)
}

// checkSharedTargets refuses a pipeline that writes a ClickHouse table
// another pipeline of the file writes as well (the same server and
// database.table, through any sink) in a way that cannot be right for
// both: a table has one engine and one ORDER BY, made by whichever writes
// first. An upsert table keeps one row per value of its key — another
// key's rows collapse onto it (a new-user trial: KEY (payment_id) and the
// customers' customer_id into one table, 598 of 599 customers gone); an
// append or changelog table keeps every row, which an upsert pipeline's
// ReplacingMergeTree would merge away, or a changelog's rows are changes
// (_op, _version, _before_*) that an append pipeline's rows are not.
//
// Legitimate sharing stays: pipelines of one mode into one append or
// changelog table, and upsert pipelines of one KEY (the tenants of two
// servers into one table, TRANSFORM _db, _table, * … KEY (_db, _table,
// id)). The error is at the INTO of the later pipeline in the file.
func (b *builder) checkSharedTargets() {
	first := map[string]*Pipeline{}
	for _, p := range b.plan.Pipelines {
		if p.SinkKind != "clickhouse" || p.TargetAt == "" || b.plan.Failed[p.Name] {
			continue
		}
		q := first[p.TargetAt]
		if q == nil {
			first[p.TargetAt] = p
			continue
		}
		if p.ModeUnresolved || q.ModeUnresolved {
			// (Offline: the mode and key are not known.)
			continue
		}
		why := sharedTargetConflict(q, p)
		if why == "" {
			continue
		}
		via := ""
		if !strings.EqualFold(p.Sink, q.Sink) {
			via = fmt.Sprintf(" (sink %s reaches the server of sink %s)", p.Sink, q.Sink)
		}
		b.errs.addAt(p.IntoPos, p.IntoEnd, "pipeline %s writes into %s, which pipeline %s (line %d) writes as well%s: %s; write pipeline %s INTO a table of its own",
			p.Name, intoText(p), q.Name, q.IntoPos.Line, via, why, p.Name)
		if b.plan.Failed == nil {
			b.plan.Failed = map[string]bool{}
		}
		b.plan.Failed[p.Name] = true
	}
}

// sharedTargetConflict says why p cannot write the ClickHouse table q
// writes; "" when both can.
func sharedTargetConflict(q, p *Pipeline) string {
	qm, pm := q.Target.Mode, p.Target.Mode
	switch {
	case qm == connectors.ModeUpsert && pm == connectors.ModeUpsert:
		if sameKey(q.Target.Key, p.Target.Key) || len(q.Target.Key) == 0 || len(p.Target.Key) == 0 {
			return ""
		}
		return fmt.Sprintf("an upsert table has one key, its ORDER BY, and keeps one row per value of it: KEY %s for pipeline %s, %s for %s, so the rows of the pipeline whose key the table does not have replace one another where they agree on the table's key (a column the pipeline does not write reads its default there: every row one key); give both the same KEY, with _db or _table in it where their tables' keys may meet",
			keyText(q.Target.Key), q.Name, keyText(p.Target.Key), p.Name)
	case qm == connectors.ModeUpsert || pm == connectors.ModeUpsert:
		return fmt.Sprintf("pipeline %s is MODE %s and %s MODE %s, and a table has one engine: upsert's ReplacingMergeTree keeps one row per key, and would merge away the rows an %s table keeps, or the %s pipeline's rows would never replace each other",
			q.Name, q.Target.Mode, p.Name, p.Target.Mode, modeNotUpsert(qm, pm), modeNotUpsert(qm, pm))
	case qm != pm:
		return fmt.Sprintf("pipeline %s is MODE %s and %s MODE %s: a changelog table's rows are changes (_op, _ts, _pos, _version, _before_* columns), an append pipeline's rows are not, and the history of one would read the other's rows as changes",
			q.Name, q.Target.Mode, p.Name, p.Target.Mode)
	}
	return ""
}

// modeNotUpsert is the mode of the two that is not upsert.
func modeNotUpsert(a, b connectors.Mode) connectors.Mode {
	if a == connectors.ModeUpsert {
		return b
	}
	return a
}

func sameKey(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func keyText(k []string) string {
	return "(" + strings.Join(k, ", ") + ")"
}

// intoText is p's INTO as the file writes it in full: clickhouse
// sink.database.table.
func intoText(p *Pipeline) string {
	return p.SinkKind + " " + p.Sink + "." + p.Target.Name
}

// SinkAt is where the plan's declared sink name reaches: its connector
// and server (the DSN's host and port, without secrets), as TargetAt has
// them; false when the plan declares no sink of that name. A state
// directory of an older etlq names a pipeline's sink, not its server:
// this tells whether that name still reaches the same one.
func (p *Plan) SinkAt(name string) (string, bool) {
	for _, d := range p.Sinks {
		if !d.Implicit && strings.EqualFold(d.Name, name) {
			port := ""
			if d.Kind == "clickhouse" {
				port = "9000"
			}
			return d.Kind + " " + serverAddress(d.DSN, port), true
		}
	}
	return "", false
}
