package clickhouse

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/etlq/etlq/connectors"
)

// codeDatabaseAccessDenied is ClickHouse's DATABASE_ACCESS_DENIED: a
// database the user's allow_databases does not list.
const codeDatabaseAccessDenied = 291

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
	var out []connectors.MissingGrant
	for _, db := range names {
		// A user whose <allow_databases> (users.xml) does not list db:
		// EXISTS answers DATABASE_ACCESS_DENIED whether db exists or not.
		if err := conn.Exec(ctx, "EXISTS TABLE "+quote(db)+".etlq_access_probe"); err != nil {
			var ex *clickhouse.Exception
			if !errors.As(err, &ex) || ex.Code != codeDatabaseAccessDenied {
				return nil, s.errorf("checking access to database %s: %v", db, err)
			}
			out = append(out, connectors.MissingGrant{User: quoteUser(user), Privilege: "access to database " + quote(db),
				Why:   "to create and load its targets; the user's allow_databases does not list it",
				Grant: "add <database>" + db + "</database> to the user's <allow_databases> in users.xml; with SQL access control (ClickHouse 20.5+): GRANT INSERT, CREATE, ALTER ON " + quote(db) + ".* TO " + quoteUser(user) + ";"})
		}
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
		return out, nil
	}
	fix := "give the user a profile with readonly = 0 and allow_ddl = 1 (users.xml)"
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
