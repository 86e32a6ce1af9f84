package exec

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/stdlib"
)

// shortStrings returns every string of up to n characters from alphabet.
func shortStrings(alphabet []string, n int) []string {
	out := []string{""}
	prev := []string{""}
	for k := 0; k < n; k++ {
		var next []string
		for _, p := range prev {
			for _, a := range alphabet {
				next = append(next, p+a)
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

var collAlphabet = []string{"a", "A", "s", " ", "ä", "ß", "\x01", "_", "%"}

var testCollations = []string{"utf8mb4_general_ci", "utf8mb4_unicode_ci", "utf8mb4_0900_ai_ci", "latin1_swedish_ci", "utf8mb4_bin", "utf8mb4_general_nopad_ci"}

// TestConstTextFastPathAgrees: the ASCII fast path of "column = constant"
// answers as the collation does, for every pair of short strings.
func TestConstTextFastPathAgrees(t *testing.T) {
	strs := shortStrings(collAlphabet, 3)
	for _, name := range testCollations {
		coll, _ := stdlib.LookupCollation(name)
		for _, k := range strs {
			m := newConstText(coll, k)
			for _, s := range strs {
				if got, want := m.equal(s), coll.Equal(s, k); got != want {
					t.Fatalf("%s: %q = %q: fast path %v, collation %v", name, s, k, got, want)
				}
			}
		}
	}
}

// TestLikeFoldPathAgrees: the lower-casing fast path of LIKE answers as
// the character-by-character match does.
func TestLikeFoldPathAgrees(t *testing.T) {
	strs := shortStrings([]string{"a", "A", "b", " ", "ä", "\x01"}, 3)
	pats := shortStrings([]string{"a", "B", "%", "_", "\\", " "}, 3)
	for _, name := range testCollations {
		coll, _ := stdlib.LookupCollation(name)
		var buf []uint64
		var low []byte
		for _, p := range pats {
			m := compileLikeColl(coll, p)
			slow := *m
			slow.fold = nil
			for _, s := range strs {
				if got, want := m.match(s, &buf, &low), slow.match(s, &buf, &low); got != want {
					t.Fatalf("%s: %q LIKE %q: fast path %v, by characters %v", name, s, p, got, want)
				}
			}
		}
	}
}

// TestCollatedOperators runs the collated operators over a batch (with a
// NULL, in the selection and the value paths). The answers are MariaDB
// 10.11's for a utf8mb4_general_ci column g (SELECT g = 'PAID', … FROM t;
// g = CAST('PAID' AS BINARY) for the binary case).
func TestCollatedOperators(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "g", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	vals := []string{"paid", "PAID", "Paid ", "päid", "new", "", "Straße"}
	rb.Field(0).(*array.StringBuilder).AppendValues(append(vals, ""), append([]bool{true, true, true, true, true, true, true}, false))
	rec := rb.NewRecordBatch()
	rb.Release()
	defer rec.Release()
	gen, _ := stdlib.LookupCollation("utf8mb4_general_ci")
	g := CollatedCol(0, "g", stdlib.TString, gen)
	lit := func(s string) Expr { e, _ := Lit(s, stdlib.TString); return e }
	must := func(e Expr, err error) Expr {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	cases := []struct {
		e    Expr
		want string // per row: 1, 0 or N (NULL)
	}{
		{must(Binary("=", g, lit("PAID"))), "1111000N"},
		{must(Binary("=", lit("PAID"), g)), "1111000N"},
		{must(Binary("<>", g, lit("paid"))), "0000111N"},
		{must(Binary("<", g, lit("PAIE"))), "1111110N"},
		{must(Binary(">=", g, lit("straße"))), "0000001N"},
		{must(Binary("=", g, must(Call("upper", []Expr{g})))), "1111111N"},
		{must(Binary("=", must(Call("lower", []Expr{g})), lit("PAID"))), "1111000N"},
		{must(In(g, []Expr{lit("PAID"), lit("NEW")}, false)), "1111100N"},
		{must(In(g, []Expr{lit("x"), g}, false)), "1111111N"},
		{must(Like(g, lit("p%"), false)), "1111000N"},
		{must(Like(g, lit("p_id"), false)), "1101000N"},
		{must(Like(g, lit("STRASE"), false)), "0000001N"},
		{must(Binary("=", must(Collate(g, "utf8mb4_bin")), lit("paid"))), "1000000N"},
		{must(Binary("=", g, must(Cast(lit("PAID"), stdlib.TBinary)))), "0100000N"}, // a binary string makes it binary
		{must(Binary(">", must(Call("locate", []Expr{lit("A"), g})), must(Lit(int64(0), stdlib.TInt64)))), "1110001N"},
	}
	for _, c := range cases {
		for _, where := range []bool{false, true} {
			cfg := ProgramConfig{Outputs: []Expr{c.e}, Names: []string{"v"}, Alloc: mem}
			if where {
				cfg.Where = c.e
			}
			p, err := NewProgram(cfg)
			if err != nil {
				t.Fatal(err)
			}
			out, kept, _, _, err := p.Run(context.Background(), &Batch{Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			got := []byte(strings.Repeat("0", int(rec.NumRows())))
			col := out.Column(0).(*array.Boolean)
			for k, row := range kept {
				switch {
				case col.IsNull(k):
					got[row] = 'N'
				case col.Value(k):
					got[row] = '1'
				}
			}
			out.Release()
			want := c.want
			if where {
				// WHERE keeps the TRUE rows only.
				want = strings.NewReplacer("N", "0").Replace(want)
			}
			if string(got) != want {
				t.Errorf("%s (where %v): got %s, want %s", c.e, where, got, want)
			}
		}
	}
}

// TestCollatedConstantsFold: a comparison of constants under a COLLATE
// folds to MariaDB's answer (SELECT 'a' COLLATE utf8mb4_general_ci = 'A'
// is 1; 'ß' = 'ss' is 0 under general_ci, 1 under unicode_ci).
func TestCollatedConstantsFold(t *testing.T) {
	lit := func(s string) Expr { e, _ := Lit(s, stdlib.TString); return e }
	for _, c := range []struct {
		a, coll, b string
		want       bool
	}{
		{"a", "utf8mb4_general_ci", "A", true},
		{"ß", "utf8mb4_general_ci", "ss", false},
		{"ß", "utf8mb4_unicode_ci", "ss", true},
		{"a", "utf8mb4_bin", "A", false},
	} {
		x, err := Collate(lit(c.a), c.coll)
		if err != nil {
			t.Fatal(err)
		}
		eq, err := Binary("=", x, lit(c.b))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Fold(eq)
		if err != nil {
			t.Fatal(err)
		}
		l, ok := f.(*litExpr)
		if !ok || l.v.IsNull(0) || l.v.Bool[0] != c.want {
			t.Errorf("'%s' COLLATE %s = '%s' folds to %s, want %v", c.a, c.coll, c.b, f, c.want)
		}
	}
}

// TestAffixesFollowTheCollation: starts_with and ends_with answer as LIKE
// 'x%' and LIKE '%x' do under the column's collation.
func TestAffixesFollowTheCollation(t *testing.T) {
	gen, _ := stdlib.LookupCollation("utf8mb4_general_ci")
	schema := arrow.NewSchema([]arrow.Field{{Name: "g", Type: arrow.BinaryTypes.String}}, nil)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, schema)
	vals := []string{"Paid", "päid", "xPAID", "pa", "Straße"}
	rb.Field(0).(*array.StringBuilder).AppendValues(vals, nil)
	rec := rb.NewRecordBatch()
	rb.Release()
	defer rec.Release()
	g := CollatedCol(0, "g", stdlib.TString, gen)
	for _, affix := range []string{"PA", "ID", "paid", "STRASE", ""} {
		for _, fn := range []string{"starts_with", "ends_with"} {
			pat := affix + "%"
			if fn == "ends_with" {
				pat = "%" + affix
			}
			lit, _ := Lit(affix, stdlib.TString)
			plit, _ := Lit(pat, stdlib.TString)
			call, err := Call(fn, []Expr{g, lit})
			if err != nil {
				t.Fatal(err)
			}
			like, err := Like(g, plit, false)
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewProgram(ProgramConfig{Outputs: []Expr{call, like}, Names: []string{"f", "l"}, Alloc: mem})
			if err != nil {
				t.Fatal(err)
			}
			out, _, _, _, err := p.Run(context.Background(), &Batch{Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			f, l := out.Column(0).(*array.Boolean), out.Column(1).(*array.Boolean)
			for i, v := range vals {
				if f.Value(i) != l.Value(i) {
					t.Errorf("%s(%q, %q) = %v, LIKE %q = %v", fn, v, affix, f.Value(i), pat, l.Value(i))
				}
			}
			out.Release()
		}
	}
}

// TestCollateRefusesNarrowerCharset: x COLLATE name with a latin1 or ascii
// collation over text that may hold characters that character set cannot
// (a utf8mb4 column, text computed from one, a literal such as '🍕') is
// refused, as MySQL refuses it (COLLATION 'latin1_bin' is not valid for
// CHARACTER SET 'utf8mb4'): every such character would weigh as '?' and
// compare equal to every other ('🍕' COLLATE latin1_bin = '😀' was TRUE).
// Text the collation's character set holds (a latin1 column, an ascii
// literal, a latin1 literal for a latin1 collation) and widening
// (a latin1 column under a utf8mb4 collation) stay allowed.
func TestCollateRefusesNarrowerCharset(t *testing.T) {
	coll := func(name string) *stdlib.Collation {
		c, ok := stdlib.LookupCollation(name)
		if !ok {
			t.Fatalf("no collation %s", name)
		}
		return c
	}
	u := CollatedCol(0, "u", stdlib.TString, coll("utf8mb4_general_ci"))
	l := CollatedCol(1, "l", stdlib.TString, coll("latin1_swedish_ci"))
	a := CollatedCol(2, "a", stdlib.TString, coll("ascii_general_ci"))
	lit := func(s string) Expr { e, _ := Lit(s, stdlib.TString); return e }
	lowerU, err := Call("lower", []Expr{u})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		x    Expr
		name string
		want string // "" = allowed, else a part of the error
	}{
		{u, "latin1_bin", "not valid for CHARACTER SET 'utf8mb4'"},
		{u, "latin1_german2_ci", "not valid for CHARACTER SET 'utf8mb4'"},
		{u, "ascii_bin", "not valid for CHARACTER SET 'utf8mb4'"},
		{lowerU, "latin1_bin", "not valid for CHARACTER SET 'utf8mb4'"},
		{lit("🍕"), "latin1_bin", "not valid for CHARACTER SET 'utf8mb4'"},
		{lit("Straße"), "ascii_general_ci", "not valid for CHARACTER SET 'utf8mb4'"},
		{l, "ascii_bin", "not valid for CHARACTER SET 'latin1'"},
		{l, "latin1_german2_ci", ""},
		{l, "utf8mb4_bin", ""},
		{a, "latin1_bin", ""},
		{u, "utf8mb4_bin", ""},
		{u, "utf8mb3_general_ci", ""},
		{lit("Straße €"), "latin1_german2_ci", ""},
		{lit("paid"), "ascii_bin", ""},
		{u, "binary", ""},
	} {
		_, err := Collate(c.x, c.name)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s COLLATE %s: %v, want it allowed", c.x, c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s COLLATE %s: error %v, want one with %q", c.x, c.name, err, c.want)
		}
	}
}
