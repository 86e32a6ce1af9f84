package mysql

import (
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
)

// A replica logs what it replicates to its own binary log only with
// log_slave_updates = ON (MariaDB's default is OFF; MySQL 8's ON). Read
// from a replica without it — the usual advice is to keep the load off
// the primary — the stream took its snapshot and then saw none of the
// primary's changes, with no word. checkReplicaLogging refuses a server
// that replicates (a replication thread running, SHOW ALL SLAVES STATUS)
// with log_slave_updates = OFF; where etlq's user may not look at the
// replication threads (MariaDB 10.5+ wants SLAVE MONITOR for it), a server
// that has replicated (gtid_slave_pos set) gets a WARN instead.

// checkReplicaLogging returns an error for a replica that does not log
// what it replicates, or a WARN when it cannot tell ("" otherwise).
func checkReplicaLogging(c *client.Conn, flavor string) (warn string, err error) {
	r, err := c.Execute("SELECT @@GLOBAL.log_slave_updates")
	if err != nil {
		return "", nil
	}
	if on, _ := r.GetInt(0, 0); on != 0 {
		return "", nil
	}
	q := "SHOW SLAVE STATUS"
	if flavor == "mariadb" {
		q = "SHOW ALL SLAVES STATUS"
	}
	s, err := c.Execute(q)
	if err != nil {
		if flavor != "mariadb" {
			return "", nil
		}
		g, err := c.Execute("SELECT @@GLOBAL.gtid_slave_pos")
		if err != nil {
			return "", nil
		}
		if pos, _ := g.GetString(0, 0); pos != "" {
			return "the server has replicated (gtid_slave_pos " + pos + ") and does not log what it replicates (log_slave_updates = OFF): if it is a replica, its binary log holds none of its primary's changes and etlq sees none of them (etlq's user may not run " + q + " to tell: GRANT SLAVE MONITOR); set log_slave_updates = ON, or read the primary", nil
		}
		return "", nil
	}
	var from []string
	for i := 0; i < s.RowNumber(); i++ {
		io, _ := s.GetStringByName(i, "Slave_IO_Running")
		sql, _ := s.GetStringByName(i, "Slave_SQL_Running")
		if !strings.EqualFold(io, "Yes") && !strings.EqualFold(sql, "Yes") {
			continue
		}
		host, _ := s.GetStringByName(i, "Master_Host")
		port, _ := s.GetStringByName(i, "Master_Port")
		from = append(from, host+":"+port)
	}
	if len(from) == 0 {
		return "", nil
	}
	return "", fmt.Errorf("the server replicates from %s without logging what it replicates (log_slave_updates = OFF): its binary log holds none of the primary's changes, so etlq reading it would see none; set log_slave_updates = ON in its my.cnf (a restart of the server), or read the primary", strings.Join(from, ", "))
}
