package mysql

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// TestMissingGrants connects as users with fewer privileges than etlq
// needs and checks that each missing one is named with its GRANT: SELECT
// on a table (the user may write it but not read it), REPLICATION SLAVE
// and BINLOG MONITOR for a table that follows the binlog, none of those
// for SNAPSHOT only, and nothing for a user that has everything.
func TestMissingGrants(t *testing.T) {
	s := server{"full", servers(t)[0].dsn}
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)", "CREATE TABLE "+db+".u (id INT PRIMARY KEY)")
	user := strings.ToLower(nameRe.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	full := user + "_full"
	_, userDSN := grantedUser(t, s, user, "GRANT SELECT ON "+quoteIdent(db)+".u TO %s", "GRANT INSERT ON "+quoteIdent(db)+".t TO %s")
	_, fullDSN := grantedUser(t, s, full, "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO %s")
	dsns := map[string]string{user: userDSN, full: fullDSN}
	tables := func(snap connectors.SnapshotMode) connectors.StreamRequest {
		return connectors.StreamRequest{Tables: []connectors.StreamTable{
			{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: snap},
			{Ref: connectors.TableRef{DB: db, Table: "u"}, Snapshot: snap},
		}}
	}
	missing := func(name string, req connectors.StreamRequest) []string {
		src, err := NewSource("g", dsns[name], nil)
		if err != nil {
			t.Fatal(err)
		}
		gs, err := src.MissingGrants(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.String())
		}
		return out
	}
	acct := "'" + user + "'@'127.0.0.1'"
	got := missing(user, tables(connectors.SnapshotInitial))
	want := []string{
		"user " + acct + " lacks SELECT ON `" + db + "`.`t` (to snapshot it and read its schema): GRANT SELECT ON `" + db + "`.`t` TO " + acct + ";",
		"user " + acct + " lacks REPLICATION SLAVE (to read the binlog): GRANT REPLICATION SLAVE ON *.* TO " + acct + ";",
		"user " + acct + " lacks BINLOG MONITOR (to read the binlog position (SHOW MASTER STATUS)): GRANT BINLOG MONITOR ON *.* TO " + acct + ";",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("binlog user:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := missing(user, tables(connectors.SnapshotOnly)); len(got) != 1 || !strings.Contains(got[0], "SELECT ON `"+db+"`.`t`") {
		t.Errorf("SNAPSHOT only: %q, want only the SELECT", got)
	}
	if got := missing(full, tables(connectors.SnapshotInitial)); len(got) != 0 {
		t.Errorf("a user with every privilege: %q", got)
	}
}

// TestTablesWithoutSelect lists tables as a user that has no privilege at
// all on them (new-user trial: a replication user given REPLICATION SLAVE
// and BINLOG MONITOR but not SELECT): the server hides such tables, and
// check said "no table matches db.t" instead of naming the missing SELECT.
// Tables now says which SELECT the user lacks, with its GRANT, for a table
// named exactly and for a pattern; a user with SELECT that names a table
// that does not exist still gets no table and no error. Both servers.
func TestTablesWithoutSelect(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)")
			acct, dsn := grantedUser(t, s, "", "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO %s")
			src, err := NewSource("g", dsn, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			ctx := context.Background()
			grant := func(on string) string {
				return "user " + acct + " lacks SELECT ON " + on + " (to snapshot it and read its schema): GRANT SELECT ON " + on + " TO " + acct + ";"
			}
			for _, x := range []struct{ pattern, on string }{
				{"t", "`" + db + "`.`t`"},
				{"*", "`" + db + "`.*"},
			} {
				refs, err := src.Tables(ctx, db, x.pattern)
				if err == nil || !strings.Contains(err.Error(), grant(x.on)) {
					t.Errorf("Tables(%s, %s) = %v, %v; want an error naming %q", db, x.pattern, refs, err, grant(x.on))
				}
			}
			// With SELECT, a table that does not exist is no error.
			run(t, s, "GRANT SELECT ON "+quoteIdent(db)+".* TO "+acct)
			if refs, err := src.Tables(ctx, db, "nosuch"); err != nil || len(refs) != 0 {
				t.Errorf("Tables(nosuch) with SELECT = %v, %v; want none and no error", refs, err)
			}
			if refs, err := src.Tables(ctx, db, "t"); err != nil || len(refs) != 1 {
				t.Errorf("Tables(t) with SELECT = %v, %v; want the table", refs, err)
			}
		})
	}
}

// TestBinlogWithoutReplicationSlave streams as a user that has SELECT and
// BINLOG MONITOR but not REPLICATION SLAVE (new-user trial): the server
// refuses the binlog dump with "Access denied for user … (using password:
// YES)", which apply printed as it was — it reads as a wrong password. The
// error now names the missing privilege and its GRANT. Both servers.
func TestBinlogWithoutReplicationSlave(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)")
			acct, dsn := grantedUser(t, s, "", "GRANT SELECT, BINLOG MONITOR ON *.* TO %s")
			src, err := NewSource("g", dsn, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ref := connectors.TableRef{DB: db, Table: "t"}
			st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}})
			if err == nil {
				for err == nil {
					var b *exec.Batch
					b, err = st.Next(ctx)
					if b != nil {
						b.Release()
					}
				}
				st.Close()
			}
			want := "GRANT REPLICATION SLAVE ON *.* TO " + acct + ";"
			if err == nil || !strings.Contains(err.Error(), "lacks REPLICATION SLAVE") || !strings.Contains(err.Error(), want) {
				t.Errorf("stream without REPLICATION SLAVE: %v; want it to say the user lacks REPLICATION SLAVE and %q", err, want)
			}
		})
	}
}

// grantedUser creates the account name@127.0.0.1 on s for the test (the
// test's name when name is ""), runs grants with %s standing for the
// account, and returns the account and a DSN that logs in as it.
func grantedUser(t *testing.T, s server, name string, grants ...string) (acct, dsn string) {
	t.Helper()
	if name == "" {
		name = strings.ToLower(nameRe.ReplaceAllString(strings.ToLower(t.Name()), "_"))
		if len(name) > 60 {
			name = name[len(name)-60:]
		}
	}
	u, err := url.Parse(s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	acct = quoteString(name) + "@'127.0.0.1'"
	run(t, s, "DROP USER IF EXISTS "+acct, "CREATE USER "+acct+" IDENTIFIED BY 'Gr4nts-pw'")
	for _, g := range grants {
		run(t, s, strings.ReplaceAll(g, "%s", acct))
	}
	t.Cleanup(func() { run(t, s, "DROP USER IF EXISTS "+acct) })
	return acct, "mysql://" + name + ":Gr4nts-pw@" + u.Host
}
