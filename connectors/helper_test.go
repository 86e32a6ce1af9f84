package connectors_test

import (
	"testing"

	"github.com/etlq/etlq/connectors"
)

// TestHelperTable: the online schema-change tools' helper tables, by the
// names the tools give them (gh-ost: go/base/context.go; also with
// --force-table-names, --checkpoint, --timestamp-old-table, --revert;
// pt-online-schema-change: _t_new, _t_old, more underscores when taken),
// never match a pattern; a FROM that names one still does.
func TestHelperTable(t *testing.T) {
	for name, want := range map[string]bool{
		"_t_gho": true, "_t_ghc": true, "_t_ghk": true, "_t_del": true, "_t_20240102150405_del": true, "_t_rev_del": true,
		"_foo_gho": true, "_foo_ghc": true, "_foo_ghk": true, "_foo_del": true,
		"_t_new": true, "_t_old": true, "__t_new": true,
		"t": false, "t_copy": false, "t_new": false, "_t": false, "_gho": false, "_t_ghost": false,
	} {
		if got := connectors.HelperTable(name); got != want {
			t.Errorf("HelperTable(%q) = %v, want %v", name, got, want)
		}
		if ok, _ := connectors.MatchTable("*", name); ok == want {
			t.Errorf("MatchTable(*, %q) = %v", name, ok)
		}
		if ok, _ := connectors.MatchTable(name, name); !ok {
			t.Errorf("MatchTable(%q, %q) = false: a FROM naming it reads it", name, name)
		}
	}
}

// TestMatchRef: a FROM name's database part is a pattern too, which never
// matches the server's own databases; the table part's pattern never
// matches a helper table.
func TestMatchRef(t *testing.T) {
	for _, c := range []struct {
		pat, ref connectors.TableRef
		want     bool
	}{
		{connectors.TableRef{DB: "tenant_*", Table: "orders"}, connectors.TableRef{DB: "tenant_051", Table: "orders"}, true},
		{connectors.TableRef{DB: "tenant_*", Table: "orders"}, connectors.TableRef{DB: "tenant_051", Table: "orders_old"}, false},
		{connectors.TableRef{DB: "tenant_*", Table: "orders"}, connectors.TableRef{DB: "other", Table: "orders"}, false},
		{connectors.TableRef{DB: "*", Table: "orders"}, connectors.TableRef{DB: "mysql", Table: "orders"}, false},
		{connectors.TableRef{DB: "*", Table: "orders"}, connectors.TableRef{DB: "etlq", Table: "orders"}, false},
		{connectors.TableRef{DB: "mysql", Table: "orders"}, connectors.TableRef{DB: "mysql", Table: "orders"}, true},
		{connectors.TableRef{DB: "shop", Table: "o_*"}, connectors.TableRef{DB: "shop", Table: "o_1"}, true},
		{connectors.TableRef{DB: "shop", Table: "o_*"}, connectors.TableRef{DB: "shop2", Table: "o_1"}, false},
		{connectors.TableRef{DB: "shop_*", Table: "*"}, connectors.TableRef{DB: "shop_1", Table: "_t_gho"}, false},
	} {
		if got := connectors.MatchRef(c.pat, c.ref); got != c.want {
			t.Errorf("MatchRef(%s, %s) = %v, want %v", c.pat, c.ref, got, c.want)
		}
	}
}
