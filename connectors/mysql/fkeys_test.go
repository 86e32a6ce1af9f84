package mysql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
)

// TestForeignKeyActionsWithDocumentedGrants (new-user trial "trialops2"):
// the user docs/security.md asks for (SELECT, REPLICATION SLAVE, BINLOG
// MONITOR) sees the foreign keys whose actions the binlog does not show,
// as root does. MariaDB lists a table's keys in
// information_schema.REFERENTIAL_CONSTRAINTS only to a user with a
// privilege on it other than SELECT: to that user the view was empty, and
// `etlq check` warned of none of Sakila's 19 ON UPDATE CASCADE / ON DELETE
// SET NULL keys (the test before: as root only).
func TestForeignKeyActionsWithDocumentedGrants(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			q := quoteIdent(db)
			run(t, s, "CREATE TABLE "+q+".p (id INT PRIMARY KEY, a INT, b INT, UNIQUE KEY (a, b)) ENGINE=InnoDB",
				"CREATE TABLE "+q+".c1 (id INT PRIMARY KEY, pid INT, CONSTRAINT fk_c1_p FOREIGN KEY (pid) REFERENCES "+q+".p (id) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB",
				"CREATE TABLE "+q+".c2 (id INT PRIMARY KEY, pa INT, pb INT, CONSTRAINT `fk c2``p` FOREIGN KEY (pa, pb) REFERENCES "+q+".p (a, b) ON DELETE SET NULL) ENGINE=InnoDB",
				"CREATE TABLE "+q+".c3 (id INT PRIMARY KEY, pid INT, CONSTRAINT fk_c3_p FOREIGN KEY (pid) REFERENCES "+q+".p (id) ON DELETE RESTRICT ON UPDATE NO ACTION) ENGINE=InnoDB",
				"CREATE TABLE "+q+".c4 (id INT PRIMARY KEY, pid INT, CONSTRAINT fk_c4_p FOREIGN KEY (pid) REFERENCES "+q+".p (id) ON UPDATE CASCADE) ENGINE=InnoDB")
			_, dsn := grantedUser(t, s, "", "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO %s")
			var tables []connectors.TableRef
			for _, tb := range []string{"p", "c1", "c2", "c3", "c4"} {
				tables = append(tables, connectors.TableRef{DB: db, Table: tb})
			}
			list := func(dsn string) string {
				src, err := NewSource("fk", dsn, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				fks, err := src.ForeignKeyActions(context.Background(), tables)
				if err != nil {
					t.Fatal(err)
				}
				var b strings.Builder
				for _, fk := range fks {
					fmt.Fprintf(&b, "%s %s (%s) -> %s delete=%s update=%s\n", fk.Child, fk.Name, strings.Join(fk.Columns, ","), fk.Parent, fk.OnDelete, fk.OnUpdate)
				}
				return b.String()
			}
			want := db + ".c1 fk_c1_p (pid) -> " + db + ".p delete=CASCADE update=CASCADE\n" +
				db + ".c2 fk c2`p (pa,pb) -> " + db + ".p delete=SET NULL update=RESTRICT\n" +
				db + ".c4 fk_c4_p (pid) -> " + db + ".p delete=RESTRICT update=CASCADE\n"
			if got := list(s.dsn); got != want {
				t.Errorf("as root:\n%swant\n%s", got, want)
			}
			if got := list(dsn); got != want {
				t.Errorf("as a user with the documented grants (SELECT, REPLICATION SLAVE, BINLOG MONITOR):\n%swant\n%s", got, want)
			}
		})
	}
}
