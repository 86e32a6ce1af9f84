package stdlib

import "testing"

func TestRegistryComplete(t *testing.T) {
	want := []string{"lower", "upper", "length", "char_length", "substr", "substring", "left", "right", "trim", "ltrim", "rtrim",
		"lpad", "rpad", "concat", "concat_ws", "replace", "reverse", "locate", "position", "instr", "starts_with", "ends_with",
		"split_part", "regexp_like", "regexp_replace", "regexp_substr", "abs", "round", "truncate", "floor", "ceil", "sign",
		"sqrt", "pow", "exp", "ln", "log10", "mod", "greatest", "least", "rand", "coalesce", "ifnull", "nullif", "if", "now",
		"date", "year", "month", "day", "hour", "minute", "second", "dayofweek", "date_trunc", "date_add", "date_sub",
		"datediff", "timestampdiff", "unix_timestamp", "from_unixtime", "date_format", "convert_tz", "json_value",
		"json_extract", "json_unquote", "json_length", "json_keys", "json_contains", "md5", "sha1", "sha2", "crc32",
		"xxhash64", "hex", "unhex", "to_base64", "mask"}
	for _, name := range want {
		f, ok := Lookup(name)
		if !ok {
			t.Errorf("function %q is not registered", name)
			continue
		}
		if f.Doc == "" || f.Sig == "" {
			t.Errorf("function %q has no doc or signature", name)
		}
		if len(f.Examples) == 0 && name != "rand" && name != "now" {
			t.Errorf("function %q has no example", name)
		}
	}
	if n := len(Funcs()); n < 50 {
		t.Errorf("%d functions, want at least 50", n)
	}
	t.Logf("%d functions", len(Funcs()))
}
