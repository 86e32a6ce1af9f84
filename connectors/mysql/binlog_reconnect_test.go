package mysql

import (
	"errors"
	"testing"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// TestSameIDHintByCodeOrWords: only the server's "same server_id" error
// (MariaDB 4052, MySQL's 1236 words) is taken for another client with this
// server_id — not an error whose position happens to hold "4052", which
// made a damaged checkpoint reconnect for good instead of failing.
func TestSameIDHintByCodeOrWords(t *testing.T) {
	for _, c := range []struct {
		err  error
		same bool
	}{
		{&gm.MyError{Code: 4052, Message: "A slave with the same server_uuid/server_id as this slave has connected to the master"}, true},
		{&gm.MyError{Code: 4052, Message: "connection killed"}, true},
		{&gm.MyError{Code: gm.ER_MASTER_FATAL_ERROR_READING_BINLOG, Message: "A slave with the same server_uuid/server_id as this slave has connected to the master; the first event 'binlog.000001' at 4"}, true},
		{errors.New("ERROR 4052 (HY000): A slave with the same server_id"), true},
		{&gm.MyError{Code: gm.ER_MASTER_FATAL_ERROR_READING_BINLOG, Message: "binlog truncated in the middle of event; consider out of disk space on master; the first event 'binlog.000012' at 64594052, the last event read from 'binlog.000012' at 64594052"}, false},
		{errors.New("binlog of 127.0.0.1:3317 at binlog.000012:1077794052: connection reset"), false},
		{nil, false},
	} {
		if got := sameIDHint(c.err, 7) != ""; got != c.same {
			t.Errorf("%v: same server_id %v, want %v", c.err, got, c.same)
		}
	}
}
