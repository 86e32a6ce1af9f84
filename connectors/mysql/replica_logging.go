package mysql

import (
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// A replica logs what it replicates to its own binary log only with
// log_slave_updates = ON (MariaDB's default is OFF; MySQL 8's ON). Read
// from a replica without it — the usual advice is to keep the load off
// the primary — the stream took its snapshot and then saw none of the
// primary's changes, with no word. checkReplicaLogging refuses a server
// set up to replicate (SHOW ALL SLAVES STATUS has a primary: running or
// stopped) with log_slave_updates = OFF; where etlq's user may not look at the
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
	s, q, err := replicaStatus(c, flavor)
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
	// A replication set up counts, running or stopped: stopped (STOP
	// SLAVE), the check passed, and the primary's changes that came once
	// it was started again never reached etlq (new-user trial). RESET
	// SLAVE ALL (a promoted replica) leaves no row.
	var from []string
	stopped := true
	for i := 0; i < s.RowNumber(); i++ {
		host, _ := s.GetStringByName(i, "Master_Host")
		if host == "" {
			continue
		}
		port, _ := s.GetStringByName(i, "Master_Port")
		from = append(from, host+":"+port)
		io, _ := s.GetStringByName(i, "Slave_IO_Running")
		sql, _ := s.GetStringByName(i, "Slave_SQL_Running")
		stopped = stopped && !strings.EqualFold(io, "Yes") && !strings.EqualFold(sql, "Yes")
	}
	if len(from) == 0 {
		return "", nil
	}
	how := "replicates from"
	if stopped {
		how = "is set up to replicate (stopped now) from"
	}
	return "", fmt.Errorf("the server %s %s without logging what it replicates (log_slave_updates = OFF): its binary log holds none of the primary's changes, so etlq reading it would see none; set log_slave_updates = ON in its my.cnf (a restart of the server), or read the primary (a former replica: RESET SLAVE ALL)", how, strings.Join(from, ", "))
}

// replicaStatus returns the server's replication threads (SHOW ALL SLAVES
// STATUS on MariaDB, every primary of a multi-source replica; SHOW SLAVE
// STATUS on MySQL) and the statement it ran.
func replicaStatus(c *client.Conn, flavor string) (*gm.Result, string, error) {
	q := "SHOW SLAVE STATUS"
	if flavor == "mariadb" {
		q = "SHOW ALL SLAVES STATUS"
	}
	r, err := c.Execute(q)
	return r, q, err
}
