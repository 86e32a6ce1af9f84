package mysql

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
)

var _ connectors.SourceGrantChecker = (*Source)(nil)

// MissingGrants names the privileges the source's user lacks for req:
// SELECT on each table (tried with a SELECT that reads no row, so grants
// through roles and wildcards count), and, when a table follows the
// binlog, REPLICATION SLAVE (the binlog connection) and REPLICATION CLIENT
// (MariaDB 10.5+: BINLOG MONITOR; SHOW MASTER STATUS), read from
// information_schema.USER_PRIVILEGES for the user and its enabled roles;
// on MySQL with watermark positioning, CREATE, INSERT and DELETE on the
// watermark table's database.
func (s *Source) MissingGrants(ctx context.Context, req connectors.StreamRequest) ([]connectors.MissingGrant, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	user, err := currentUser(c)
	if err != nil {
		return nil, err
	}
	var out []connectors.MissingGrant
	binlog := false
	seen := map[string]bool{}
	for _, t := range req.Tables {
		binlog = binlog || t.Snapshot != connectors.SnapshotOnly
		id := tableIdent(t.Ref)
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := c.Execute("SELECT 1 FROM " + id + " LIMIT 0"); err != nil {
			if strings.Contains(err.Error(), "ERROR 1142") || strings.Contains(err.Error(), "ERROR 1044") {
				out = append(out, connectors.MissingGrant{User: user, Privilege: "SELECT ON " + id,
					Why: "to snapshot it and read its schema", Grant: "GRANT SELECT ON " + id + " TO " + user + ";"})
			}
		}
	}
	if !binlog {
		return out, nil
	}
	global, err := globalPrivileges(c)
	if err != nil {
		return nil, err
	}
	if !global["REPLICATION SLAVE"] {
		out = append(out, connectors.MissingGrant{User: user, Privilege: "REPLICATION SLAVE", Why: "to read the binlog",
			Grant: "GRANT REPLICATION SLAVE ON *.* TO " + user + ";"})
	}
	if !global["REPLICATION CLIENT"] && !global["BINLOG MONITOR"] {
		priv := "REPLICATION CLIENT"
		s.mu.Lock()
		version := s.version
		s.mu.Unlock()
		if s.cfg.Flavor == "mariadb" && mariaDB105(version) {
			priv = "BINLOG MONITOR"
		}
		out = append(out, connectors.MissingGrant{User: user, Privilege: priv, Why: "to read the binlog position (SHOW MASTER STATUS)",
			Grant: "GRANT " + priv + " ON *.* TO " + user + ";"})
	}
	if s.cfg.Flavor == "mysql" && s.watermarkMode() {
		wt := s.cfg.parsed.String("watermark_table")
		if wt == "" {
			wt = defaultWatermarkTable
		}
		db, _, _ := strings.Cut(wt, ".")
		for _, p := range []string{"CREATE", "INSERT", "DELETE"} {
			if !global[p] && !schemaPrivilege(c, db, p) {
				out = append(out, connectors.MissingGrant{User: user, Privilege: p + " ON " + quoteIdent(db) + ".*",
					Why:   "to write snapshot watermarks into " + wt + " (or set snapshot_position = 'bracket')",
					Grant: "GRANT " + p + " ON " + quoteIdent(db) + ".* TO " + user + ";"})
			}
		}
	}
	return out, nil
}

// missingReplicationSlave returns "user … lacks REPLICATION SLAVE …: GRANT
// …;" when the source's user lacks it, "" when it has it or that cannot
// be read (the password no longer works, the server is gone).
func (s *Source) missingReplicationSlave() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.connect(ctx)
	if err != nil {
		return ""
	}
	defer c.Close()
	user, err := currentUser(c)
	if err != nil {
		return ""
	}
	global, err := globalPrivileges(c)
	if err != nil || global["REPLICATION SLAVE"] {
		return ""
	}
	return connectors.MissingGrant{User: user, Privilege: "REPLICATION SLAVE", Why: "to read the binlog",
		Grant: "GRANT REPLICATION SLAVE ON *.* TO " + user + ";"}.String()
}

// watermarkMode reports whether snapshots place themselves with watermark
// rows (MySQL's default).
func (s *Source) watermarkMode() bool {
	m := s.cfg.parsed.String("snapshot_position")
	return m == "" || m == "auto" || m == "watermark"
}

// mariaDB105 reports whether a MariaDB version is 10.5 or later, where
// REPLICATION CLIENT became BINLOG MONITOR.
func mariaDB105(version string) bool {
	var major, minor int
	fmt.Sscanf(version, "%d.%d", &major, &minor)
	return major > 10 || major == 10 && minor >= 5
}

// currentUser returns the account the server authenticated, quoted as in
// a GRANT: 'user'@'host'.
func currentUser(c *client.Conn) (string, error) {
	r, err := c.Execute("SELECT CURRENT_USER()")
	if err != nil {
		return "", fmt.Errorf("read the current user: %v", err)
	}
	u, _ := r.GetString(0, 0)
	name, host, _ := strings.Cut(u, "@")
	return quoteString(name) + "@" + quoteString(host), nil
}

// grantees returns the GRANTEE values of the user and its enabled roles
// in information_schema's privilege tables.
func grantees(c *client.Conn) []string {
	out := []string{}
	if r, err := c.Execute("SELECT CURRENT_USER()"); err == nil {
		u, _ := r.GetString(0, 0)
		name, host, _ := strings.Cut(u, "@")
		out = append(out, "'"+name+"'@'"+host+"'")
	}
	if r, err := c.Execute("SELECT ROLE_NAME FROM information_schema.ENABLED_ROLES"); err == nil {
		for i := 0; i < r.RowNumber(); i++ {
			role, _ := r.GetString(i, 0)
			out = append(out, "'"+role+"'", "'"+role+"'@''", "'"+role+"'@'%'")
		}
	}
	return out
}

func inList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = quoteString(v)
	}
	return strings.Join(q, ", ")
}

// globalPrivileges returns the global privileges of the user and its
// enabled roles.
func globalPrivileges(c *client.Conn) (map[string]bool, error) {
	g := grantees(c)
	if len(g) == 0 {
		return nil, fmt.Errorf("read the current user's privileges: no current user")
	}
	r, err := c.Execute("SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE IN (" + inList(g) + ")")
	if err != nil {
		return nil, fmt.Errorf("read the current user's privileges: %v", err)
	}
	out := map[string]bool{}
	for i := 0; i < r.RowNumber(); i++ {
		p, _ := r.GetString(i, 0)
		out[strings.ToUpper(p)] = true
	}
	return out, nil
}

// schemaPrivilege reports whether the user has privilege p on database db
// (a grant on a wildcard pattern matching db counts).
func schemaPrivilege(c *client.Conn, db, p string) bool {
	r, err := c.Execute("SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE IN (" + inList(grantees(c)) +
		") AND PRIVILEGE_TYPE = " + quoteString(p) + " AND " + quoteString(db) + " LIKE TABLE_SCHEMA")
	return err == nil && r.RowNumber() > 0
}
