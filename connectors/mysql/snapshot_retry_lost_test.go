package mysql

import (
	"errors"
	"fmt"
	"testing"

	gm "github.com/go-mysql-org/go-mysql/mysql"
	perrors "github.com/pingcap/errors"
)

// TestLostConnWrapped: the driver's lost connection (ErrBadConn wrapped
// by pingcap/errors) is one through etlq's own wrappers, %w or %v — a
// MariaDB restart during a snapshot's describe stopped the run with
// "describe tables of shop: io.ReadFull(header) failed. err EOF:
// connection was bad" instead of reconnecting (new-user trial) — and a
// server's error is not.
func TestLostConnWrapped(t *testing.T) {
	bad := perrors.Wrapf(gm.ErrBadConn, "io.ReadFull(header) failed. err %v", "EOF")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{bad, true},
		{fmt.Errorf("describe tables of shop: %w", bad), true},
		{fmt.Errorf("snapshot of shop.orders: %w", fmt.Errorf("describe shop.orders: %v", bad)), true},
		{fmt.Errorf("describe: %w", gm.NewError(gm.ER_SERVER_SHUTDOWN, "Server shutdown in progress")), true},
		{fmt.Errorf("describe: %w", gm.NewError(1146, "Table 'shop.t' doesn't exist")), false},
		{errors.New("syntax error"), false},
		{nil, false},
	} {
		if got := lostConn(c.err); got != c.want {
			t.Errorf("lostConn(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
