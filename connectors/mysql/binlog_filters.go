package mysql

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/go-mysql-org/go-mysql/client"
)

// Binlog filters: a server started with binlog_do_db or binlog_ignore_db
// (my.cnf only; SHOW MASTER STATUS lists them) leaves databases out of
// its binary log. In ROW format a row change is logged by the database of
// its table, so a streamed table of a database left out has no change in
// the binlog at all: etlq streamed nothing of it and said nothing. DDL is
// logged as a statement, filtered by the session's default database
// (USE): an ALTER of a streamed table made under USE of a database left
// out is not logged, and the rows after it arrive with columns the
// stream does not know. A stream of a table of a database left out is
// refused (Open, CheckStream); any filter gets a WARN at Open.

// binlogFilters returns the server's binlog_do_db and binlog_ignore_db
// lists (empty when the server has none, or does not say).
func binlogFilters(c *client.Conn) (do, ignore []string) {
	r, err := c.Execute("SHOW MASTER STATUS")
	if err != nil {
		if r, err = c.Execute("SHOW BINARY LOG STATUS"); err != nil {
			return nil, nil
		}
	}
	if r.RowNumber() == 0 {
		return nil, nil
	}
	split := func(col string) []string {
		v, err := r.GetStringByName(0, col)
		if err != nil {
			return nil
		}
		var out []string
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				out = append(out, d)
			}
		}
		return out
	}
	return split("Binlog_Do_DB"), split("Binlog_Ignore_DB")
}

// filteredOut reports whether the server's binlog filters leave database
// db out of the binary log.
func filteredOut(do, ignore []string, db string) bool {
	return len(do) > 0 && !slices.Contains(do, db) || slices.Contains(ignore, db)
}

// checkBinlogFilters returns an error naming the streamed tables (and
// patterns) of req whose database the filters leave out, and else, when
// the server filters at all, the WARN of DDL made under another default
// database ("" when it does not filter).
func checkBinlogFilters(do, ignore []string, req connectors.StreamRequest) (warn string, err error) {
	if len(do) == 0 && len(ignore) == 0 {
		return "", nil
	}
	var out []string
	for _, t := range req.Tables {
		if t.Snapshot != connectors.SnapshotOnly && filteredOut(do, ignore, t.Ref.DB) && !slices.Contains(out, t.Ref.String()) {
			out = append(out, t.Ref.String())
		}
	}
	for _, p := range req.Patterns {
		if name := p.DB + "." + p.Table; !connectors.IsPattern(p.DB) && p.Snapshot != connectors.SnapshotOnly && filteredOut(do, ignore, p.DB) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	filters := ""
	if len(do) > 0 {
		filters = "binlog_do_db = " + strings.Join(do, ",")
	}
	if len(ignore) > 0 {
		if filters != "" {
			filters += ", "
		}
		filters += "binlog_ignore_db = " + strings.Join(ignore, ",")
	}
	if len(out) > 0 {
		return "", fmt.Errorf("the server leaves the database of %s out of its binary log (%s in its my.cnf): no change of it reaches the binlog, so etlq would stream nothing of it; remove the filter (a restart of the server), or read the table with SNAPSHOT only", strings.Join(out, ", "), filters)
	}
	return "the server filters its binary log by database (" + filters + "): a DDL is logged only when the session's default database (USE) is not left out, so an ALTER of a streamed table made under USE of a database left out is not logged, and the rows after it arrive with columns the stream does not know; make schema changes with the streamed table's database as the default one, or remove the filter", nil
}
