package stdlib

import "testing"

// TestCaseMapOfUnknownCollations: text in a collation etlq does not
// compare under (it passes through) still upper- and lower-cases by the
// case table MariaDB gives that collation: a UCA 14.0 tailoring by the
// uca1400 one, a UCA 5.2 one by unicode_520's, the others by the default
// (values from MariaDB 10.11). A tailored uca1400 collation used the
// default table: upper('ƀɜ') gave 'ƀɜ'.
func TestCaseMapOfUnknownCollations(t *testing.T) {
	for _, c := range []struct{ coll, in, up string }{
		{"utf8mb4_uca1400_swedish_ai_ci", "ƀɜ", "ɃꞫ"},
		{"utf8mb4_uca1400_swedish_nopad_as_cs", "ƀɜ", "ɃꞫ"},
		{"utf8mb4_thai_520_w2", "ƀɜ", "Ƀɜ"},
		{"utf8mb4_swedish_ci", "ƀɜ", "ƀɜ"},
		{"utf8mb4_vietnamese_ci", "ƀɜ", "ƀɜ"},
	} {
		if got := UnknownCollation(c.coll).Upper(c.in); got != c.up {
			t.Errorf("upper(%q) under %s = %q, want %q", c.in, c.coll, got, c.up)
		}
	}
}
