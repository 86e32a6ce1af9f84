package stdlib

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

func init() {
	Register(&Func{Name: "json_extract", Sig: "json_extract(doc, path) → JSON", Doc: "The JSON value at path ('$.a.b[0]'), as JSON text in MariaDB's form (one space after each , and :, scalars as written); NULL if absent or doc is not valid JSON.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{`json_extract('{"a": {"b": [10, 20]}}', '$.a.b[1]')`, "20"}, {`json_extract('{"a": "x"}', '$.a')`, `"x"`}, {`json_extract('{"a": 1}', '$.z')`, "NULL"}, {`json_extract('{"b":[1,2,{"c":3}]}', '$.b')`, `[1, 2, {"c": 3}]`}},
		Bind: constChecked(simple("json_extract", TJSON, jsonPathKernel(false), textArg), 1, checkPath("json_extract"))})
	Register(&Func{Name: "json_value", Sig: "json_value(doc, path) → STRING", Doc: "The scalar at path as text (strings unquoted); NULL if absent or not a scalar.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{`json_value('{"channel": "web", "n": 3}', '$.channel')`, "web"}, {`json_value('{"a": [1]}', '$.a')`, "NULL"}},
		Bind: constChecked(simple("json_value", TString, jsonPathKernel(true), textArg), 1, checkPath("json_value"))})
	Register(&Func{Name: "json_unquote", NullFree: true, Sig: "json_unquote(s) → STRING", Doc: "The text of a JSON string literal; other text unchanged.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{`json_unquote('"abc"')`, "abc"}, {`json_unquote('abc')`, "abc"}},
		Bind: simple("json_unquote", TString, strMap(jsonUnquote), textArg)})
	Register(&Func{Name: "json_length", Sig: "json_length(doc[, path]) → INT64", Doc: "Number of elements of an array, members of an object, 1 for a scalar.", MySQL: true,
		MinArgs: 1, MaxArgs: 2, Examples: []Example{{`json_length('[1, 2, [3]]')`, "3"}, {`json_length('{"a": {"b": 1, "c": 2}}', '$.a')`, "2"}},
		Bind: constChecked(simple("json_length", TInt64, jsonDecodedKernel(func(v any) (any, bool) {
			switch x := v.(type) {
			case []any:
				return int64(len(x)), true
			case jsonObject:
				return int64(len(x)), true // every member, a key twice included (as MariaDB)
			}
			return int64(1), true
		}), textArg), 1, checkPath("json_length"))})
	Register(&Func{Name: "json_keys", Sig: "json_keys(doc[, path]) → JSON", Doc: "The keys of an object as a JSON array; NULL if not an object.", MySQL: true,
		MinArgs: 1, MaxArgs: 2, Examples: []Example{{`json_keys('{"b": 1, "a": 2}')`, `["b", "a"]`}},
		Bind: constChecked(simple("json_keys", TJSON, jsonKeysKernel, textArg), 1, checkPath("json_keys"))})
	Register(&Func{Name: "json_contains", Sig: "json_contains(doc, candidate[, path]) → BOOL", Doc: "Whether doc (at path) contains candidate: equal scalars, every candidate element in an array, every candidate member in an object; FALSE when path leads nowhere (as MariaDB).", MySQL: true,
		MinArgs: 2, MaxArgs: 3, Examples: []Example{{`json_contains('[1, 2, 3]', '2')`, "1"}, {`json_contains('{"a": 1, "b": 2}', '{"a": 1}')`, "1"}, {`json_contains('[1, 2]', '[1, 5]')`, "0"}},
		Bind: constChecked(simple("json_contains", TBool, jsonContainsKernel, textArg), 2, checkPath("json_contains"))})
}

// checkPath judges a constant JSON path argument of fn.
func checkPath(fn string) func(string) error {
	return func(p string) error {
		if _, err := parsePath(p); err != nil {
			return fmt.Errorf("invalid JSON path %s for %q (a path is $ and steps .key, .\"key\" or [n], as '$.a.b[0]'; no wildcards)", quote(p), fn)
		}
		return nil
	}
}

func jsonPathKernel(scalar bool) Kernel {
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		var lastPath string
		var steps []pathStep
		var perr error
		Sel(sel, n, func(i int) {
			if p := a[1].Str[i]; steps == nil || p != lastPath {
				lastPath = p
				steps, perr = parsePath(p)
			}
			if perr != nil {
				c.Fail(i, "invalid JSON path "+quote(lastPath))
				out.SetNull(i, n)
				return
			}
			doc := a[0].Str[i]
			raw, found, err := jsonFind(doc, steps)
			// As MariaDB, json_extract of a document that is not valid
			// JSON is NULL even when the path is found before the fault
			// (json_value only reads up to the value).
			if err != nil || !found || (!scalar && !json.Valid([]byte(doc))) {
				out.SetNull(i, n)
				return
			}
			if scalar {
				if raw == "" || raw[0] == '{' || raw[0] == '[' {
					out.SetNull(i, n)
					return
				}
				if raw == "null" {
					out.SetNull(i, n)
					return
				}
				raw = jsonUnquote(raw)
			} else {
				raw = jsonCanonical(raw)
			}
			out.Str[i] = raw
		})
	}
}

// jsonObject is a decoded JSON object: its members in document order, a
// key written twice kept twice (MariaDB reads the first: jsonObject.get).
type jsonObject []jsonMember

type jsonMember struct {
	key string
	val any
}

// get returns the value of the first member named key.
func (o jsonObject) get(key string) (any, bool) {
	for _, m := range o {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

// decodeJSON decodes JSON text: objects as jsonObject, arrays as []any,
// numbers as json.Number, and strings, booleans and null as Go values.
func decodeJSON(s string) (any, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

func decodeValue(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		obj := jsonObject{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			obj = append(obj, jsonMember{key: k.(string), val: v})
		}
		_, err := d.Token() // }
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for d.More() {
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := d.Token() // ]
		return arr, err
	}
	return tok, nil
}

// atPath returns the raw text at an optional path argument.
func atPath(c *Ctx, a []*Vector, i, pathArg int) (string, bool) {
	doc := a[0].Str[i]
	if len(a) <= pathArg {
		return doc, true
	}
	steps, err := parsePath(a[pathArg].Str[i])
	if err != nil {
		c.Fail(i, "invalid JSON path "+quote(a[pathArg].Str[i]))
		return "", false
	}
	raw, found, err := jsonFind(doc, steps)
	if err != nil || !found {
		return "", false
	}
	return raw, true
}

func jsonDecodedKernel(f func(any) (any, bool)) Kernel {
	return func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		Sel(sel, n, func(i int) {
			raw, ok := atPath(c, a, i, 1)
			if !ok || (len(a) > 1 && !json.Valid([]byte(a[0].Str[i]))) {
				out.SetNull(i, n) // as MariaDB: the whole document must be valid
				return
			}
			v, ok := decodeJSON(raw)
			if !ok {
				out.SetNull(i, n)
				return
			}
			r, ok := f(v)
			if !ok {
				out.SetNull(i, n)
				return
			}
			out.I64[i] = r.(int64)
		})
	}
}

func jsonKeysKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) {
		raw, ok := atPath(c, a, i, 1)
		if !ok || !strings.HasPrefix(strings.TrimSpace(raw), "{") {
			out.SetNull(i, n)
			return
		}
		// Keys in document order, each as written in the document (as
		// MariaDB: "\u00e9" stays escaped).
		keys, ok := jsonKeys(strings.TrimSpace(raw))
		if !ok {
			out.SetNull(i, n)
			return
		}
		var b strings.Builder
		b.WriteByte('[')
		for k, key := range keys {
			if slices.Contains(keys[:k], key) {
				continue // a key written twice is named once, as MariaDB
			}
			if b.Len() > 1 {
				b.WriteString(", ")
			}
			b.WriteString(key)
		}
		b.WriteByte(']')
		out.Str[i] = b.String()
	})
}

// jsonKeys returns the raw (quoted) keys of the JSON object text obj.
func jsonKeys(obj string) ([]string, bool) {
	i := skipWS(obj, 1)
	var keys []string
	for i < len(obj) && obj[i] != '}' {
		ke, err := skipString(obj, i)
		if err != nil || obj[i] != '"' {
			return nil, false
		}
		keys = append(keys, obj[i:ke])
		i = skipWS(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		ve, err := skipValue(obj, i+1)
		if err != nil {
			return nil, false
		}
		i = skipWS(obj, ve)
		if i < len(obj) && obj[i] == ',' {
			i = skipWS(obj, i+1)
		}
	}
	return keys, i < len(obj)
}

func jsonContainsKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) {
		cand, ok2 := decodeJSON(a[1].Str[i])
		raw := a[0].Str[i]
		if len(a) > 2 {
			steps, err := parsePath(a[2].Str[i])
			if err != nil {
				c.Fail(i, "invalid JSON path "+quote(a[2].Str[i]))
				out.SetNull(i, n)
				return
			}
			r, found, err := jsonFind(raw, steps)
			switch {
			case err != nil || !ok2:
				out.SetNull(i, n)
				return
			case !found:
				out.Bool[i] = false // as MariaDB (MySQL gives NULL)
				return
			}
			raw = r
		}
		doc, ok1 := decodeJSON(raw)
		if !ok1 || !ok2 {
			out.SetNull(i, n)
			return
		}
		out.Bool[i] = jsonContains(doc, cand)
	})
}

func jsonContains(doc, cand any) bool {
	switch d := doc.(type) {
	case []any:
		if ca, ok := cand.([]any); ok {
			for _, x := range ca {
				if !jsonContains(d, x) {
					return false
				}
			}
			return true
		}
		for _, x := range d {
			if jsonContains(x, cand) {
				return true
			}
		}
		return false
	case jsonObject:
		co, ok := cand.(jsonObject)
		if !ok {
			return false
		}
		// Every member of the candidate, against the document's first
		// member of its key (as MariaDB).
		for _, m := range co {
			v, ok := d.get(m.key)
			if !ok || !jsonContains(v, m.val) {
				return false
			}
		}
		return true
	}
	if dn, ok := doc.(json.Number); ok {
		if cn, ok := cand.(json.Number); ok {
			x, e1 := dn.Float64()
			y, e2 := cn.Float64()
			return e1 == nil && e2 == nil && x == y
		}
		return false
	}
	return reflect.DeepEqual(doc, cand)
}
