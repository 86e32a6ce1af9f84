package clickhouse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// TestInsertErrorMissingTable: code 60 naming the target says the table is
// gone; naming another table (a materialized view's), that the target is
// there and which table is missing — in 18.16's words and in later ones.
func TestInsertErrorMissingTable(t *testing.T) {
	w := &writer{target: "shop.orders"}
	for _, c := range []struct{ msg, want string }{
		{"Table shop.orders doesn't exist..", "the table is gone"},
		{"Table `shop`.`orders` does not exist", "the table is gone"},
		{"Table shop.audit doesn't exist..", "shop.audit is missing, and the insert into shop.orders writes into it through a materialized view of shop.orders"},
		{"Table `shop`.`audit` does not exist. Maybe you meant shop.orders?", "shop.audit is missing"},
		{"something else", "the table is gone"},
	} {
		err := w.insertError(fmt.Errorf("insert: %w", &clickhouse.Exception{Code: 60, Message: c.msg}))
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: want %q in:\n%v", c.msg, c.want, err)
		}
	}
}
