package stdlib

import "testing"

// TestJSONText: extracted JSON is printed as MariaDB prints it (one space
// after , and :, scalars as written), and json_unquote reads JSON's
// escapes but leaves text that is no JSON string alone. MariaDB's own
// output for the same inputs is checked by TestExprDifferential.
func TestJSONText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`[1,2,3]`, `[1, 2, 3]`},
		{`{ "a" :  [ 1 ,2, {"x":1,"y" : "z"} ] , "b":"q"}`, `{"a": [1, 2, {"x": 1, "y": "z"}], "b": "q"}`},
		{`[ "a, b: c" , { } , [ ] ]`, `["a, b: c", {}, []]`},
		{`{"a":"x\"y","b":"\u00e9","c":1e2}`, `{"a": "x\"y", "b": "\u00e9", "c": 1e2}`},
		{`"x,  y"`, `"x,  y"`},
		{`1e2`, `1e2`},
		{`[1, "unterminated]`, `[1, "unterminated]`},
	} {
		if got := jsonCanonical(c.in); got != c.want {
			t.Errorf("jsonCanonical(%s) = %s, want %s", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{`"abc"`, `abc`},
		{` "x" `, `x`},
		{`"a\tb\u00e9\/\ud83d\ude00"`, "a\tbé/😀"},
		{`"bad`, `"bad`},
		{"\"a\tb\"", "\"a\tb\""},
		{`[1,2]`, `[1,2]`},
		{`"a"b"`, `"a"b"`},
	} {
		if got := jsonUnquote(c.in); got != c.want {
			t.Errorf("jsonUnquote(%s) = %q, want %q", c.in, got, c.want)
		}
	}
	keys, ok := jsonKeys(`{"a<b":1, "\u00e9" : {"x": 2}, "x\"y":[3]}`)
	if !ok || len(keys) != 3 || keys[0] != `"a<b"` || keys[1] != `"\u00e9"` || keys[2] != `"x\"y"` {
		t.Errorf("jsonKeys = %q, %v", keys, ok)
	}
}
