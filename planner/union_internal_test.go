package planner

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

// TestWiden: the narrowest type holding both (the text, String, for
// numbers and text that no number type holds both of), or a refusal.
func TestWiden(t *testing.T) {
	i := func(k stdlib.Kind) stdlib.Type { return stdlib.Type{Kind: k} }
	for _, c := range []struct {
		a, b stdlib.Type
		want string // "" refused
	}{
		{i(stdlib.Int32), i(stdlib.Int64), "INT64"},
		{i(stdlib.Int8), i(stdlib.Int16), "INT16"},
		{i(stdlib.Uint8), i(stdlib.Uint32), "UINT32"},
		{i(stdlib.Int16), i(stdlib.Uint16), "INT32"},
		{i(stdlib.Uint32), i(stdlib.Int8), "INT64"},
		{i(stdlib.Int64), i(stdlib.Uint64), "DECIMAL(20,0)"},
		{i(stdlib.Int32), stdlib.Dec(12, 2), "DECIMAL(12,2)"},
		{stdlib.Dec(10, 4), stdlib.Dec(12, 2), "DECIMAL(14,4)"},
		{stdlib.Dec(65, 0), stdlib.Dec(10, 5), "STRING"},
		{i(stdlib.Float32), i(stdlib.Float64), "FLOAT64"},
		{i(stdlib.Int32), i(stdlib.Float32), "FLOAT64"},
		{i(stdlib.Int64), i(stdlib.Float64), "STRING"},
		{stdlib.Dec(12, 2), i(stdlib.Float64), "STRING"},
		{stdlib.TString, stdlib.TJSON, "STRING"},
		{stdlib.TString, i(stdlib.Int32), "STRING"},
		{stdlib.TDate, i(stdlib.Int32), ""},
		{stdlib.TDate, stdlib.TString, ""},
		{stdlib.TString, stdlib.TBinary, ""},
		{stdlib.TDate, stdlib.TTimestamp, "TIMESTAMP"},
		{stdlib.TNull, stdlib.TDate, "DATE"},
	} {
		for _, ab := range [][2]stdlib.Type{{c.a, c.b}, {c.b, c.a}} {
			got, ok := widen(ab[0], ab[1])
			g := ""
			if ok {
				g = got.String()
			}
			if g != c.want {
				t.Errorf("widen(%s, %s) = %q, want %q", ab[0], ab[1], g, c.want)
			}
		}
	}
}

// TestLaterDDLKeepsTheLatestAdd: a union column takes the DDL metadata of
// the table whose ADD is the latest (exec.MetaAddedAt), whichever table
// is merged last: a shard that adds a column the others have keeps telling
// the sink of its ADD.
func TestLaterDDLKeepsTheLatestAdd(t *testing.T) {
	ddl := func(at, table, def string) arrow.Metadata {
		return arrow.NewMetadata([]string{exec.MetaSourceType, exec.MetaAddedByDDL, exec.MetaAddedAt, exec.MetaDefault, exec.MetaDDLTable},
			[]string{"int(11)", "true", at, def, table})
	}
	plain := arrow.NewMetadata([]string{exec.MetaSourceType}, []string{"varchar(10)"})
	got := laterDDL(plain, ddl("100", "db.sh_1", "7"))
	for k, want := range map[string]string{exec.MetaSourceType: "varchar(10)", exec.MetaAddedAt: "100", exec.MetaDDLTable: "db.sh_1", exec.MetaDefault: "7"} {
		if v, _ := got.GetValue(k); v != want {
			t.Errorf("an earlier table's ADD over a column without one: %s = %q, want %q", k, v, want)
		}
	}
	later := ddl("200", "db.sh_2", "9")
	if got := laterDDL(later, ddl("100", "db.sh_1", "7")); !got.Equal(later) {
		t.Errorf("the later ADD gave way to an earlier one: %v", got)
	}
	if got := laterDDL(plain, plain); !got.Equal(plain) {
		t.Errorf("no ADD: %v", got)
	}
}
