package clickhouse

import (
	"context"
	"sort"
	"strings"

	"github.com/etlq/etlq/connectors"
)

var _ connectors.SinkGrantChecker = (*Sink)(nil)

// MissingGrants names what the sink's user cannot do of what loading the
// targets needs: INSERT, and CREATE and ALTER (missing databases, tables
// and views, and columns the source adds). It reads the user's settings,
// which every ClickHouse version has: readonly (1 or 2: no writes, no
// DDL) and allow_ddl (0: no DDL). On ClickHouse 20.5 and later, grants
// made with SQL access control (GRANT) are not read: a missing one fails
// the first CREATE or INSERT, whose error names it.
func (s *Sink) MissingGrants(ctx context.Context, targets []connectors.Target) ([]connectors.MissingGrant, error) {
	conn, _, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, "SELECT name, value FROM system.settings WHERE name IN ('readonly', 'allow_ddl')")
	if err != nil {
		return nil, s.errorf("reading the user's settings: %v", err)
	}
	settings := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			rows.Close()
			return nil, s.errorf("reading the user's settings: %v", err)
		}
		settings[n] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.errorf("reading the user's settings: %v", err)
	}
	user := s.chOpts.Auth.Username
	if user == "" {
		user = "default"
	}
	dbs := map[string]bool{}
	for _, t := range targets {
		if db, _, err := s.splitName(t.Name); err == nil {
			dbs[db] = true
		}
	}
	var names []string
	for db := range dbs {
		names = append(names, db)
	}
	sort.Strings(names)
	on := "*.*"
	if len(names) == 1 {
		on = quote(names[0]) + ".*"
	}
	var privs []string
	var why string
	switch ro := settings["readonly"]; {
	case ro != "" && ro != "0":
		privs = []string{"INSERT", "CREATE", "ALTER"}
		why = "its profile sets readonly = " + ro
	case settings["allow_ddl"] == "0":
		privs = []string{"CREATE", "ALTER"}
		why = "its profile sets allow_ddl = 0"
	default:
		return nil, nil
	}
	fix := "give the user a profile with readonly = 0 and allow_ddl = 1 (users.xml)"
	var out []connectors.MissingGrant
	for _, p := range privs {
		need := map[string]string{"INSERT": "to load rows", "CREATE": "to create target databases, tables and views", "ALTER": "to add the columns the source adds"}[p]
		out = append(out, connectors.MissingGrant{User: quoteUser(user), Privilege: p + " ON " + on, Why: need + "; " + why,
			Grant: fix + "; with SQL access control (ClickHouse 20.5+): GRANT " + p + " ON " + on + " TO " + quoteUser(user) + ";"})
	}
	return out, nil
}

// quoteUser quotes a user name for a GRANT.
func quoteUser(u string) string {
	return "'" + strings.ReplaceAll(u, "'", "\\'") + "'"
}
