package stdlib

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// A small JSON path navigator over raw JSON text: it returns the raw text
// of the value a path points at, as MariaDB does (no re-formatting).

type pathStep struct {
	key   string
	index int // -1 for a key step
}

var errBadPath = errors.New("bad JSON path")

// parsePath parses '$', '$.a.b', '$[0]', '$."a b"[2]'.
func parsePath(p string) ([]pathStep, error) {
	p = strings.TrimSpace(p)
	if !strings.HasPrefix(p, "$") {
		return nil, errBadPath
	}
	p = p[1:]
	var steps []pathStep
	for len(p) > 0 {
		switch p[0] {
		case '.':
			p = p[1:]
			if strings.HasPrefix(p, `"`) {
				end, err := skipString(p, 0) // '$."a\"b"' names the key a"b
				if err != nil {
					return nil, errBadPath
				}
				steps = append(steps, pathStep{key: jsonUnquote(p[:end]), index: -1})
				p = p[end:]
				continue
			}
			j := 0
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			if j == 0 || p[:j] == "*" {
				return nil, errBadPath
			}
			steps = append(steps, pathStep{key: p[:j], index: -1})
			p = p[j:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, errBadPath
			}
			k, err := strconv.Atoi(strings.TrimSpace(p[1:end]))
			if err != nil || k < 0 {
				return nil, errBadPath
			}
			steps = append(steps, pathStep{index: k})
			p = p[end+1:]
		default:
			return nil, errBadPath
		}
	}
	return steps, nil
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at i (after spaces).
func skipValue(s string, i int) (int, error) {
	i = skipWS(s, i)
	if i >= len(s) {
		return 0, errBadJSON
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				e, err := skipString(s, i)
				if err != nil {
					return 0, err
				}
				i = e
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, errBadJSON
	}
	j := i
	for j < len(s) && !strings.ContainsRune(",}] \t\r\n", rune(s[j])) {
		j++
	}
	if j == i {
		return 0, errBadJSON
	}
	return j, nil
}

var errBadJSON = errors.New("bad JSON")

func skipString(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errBadJSON
}

// jsonFind returns the raw text of the value at steps, found false when
// the path leads nowhere.
func jsonFind(doc string, steps []pathStep) (string, bool, error) {
	i := skipWS(doc, 0)
	for _, st := range steps {
		if i >= len(doc) {
			return "", false, errBadJSON
		}
		switch {
		case st.index < 0 && doc[i] == '{':
			i = skipWS(doc, i+1)
			found := false
			for i < len(doc) && doc[i] != '}' {
				ke, err := skipString(doc, i)
				if err != nil {
					return "", false, err
				}
				key := jsonUnquote(doc[i:ke])
				i = skipWS(doc, ke)
				if i >= len(doc) || doc[i] != ':' {
					return "", false, errBadJSON
				}
				vs := skipWS(doc, i+1)
				if key == st.key {
					i, found = vs, true
					break
				}
				ve, err := skipValue(doc, vs)
				if err != nil {
					return "", false, err
				}
				i = skipWS(doc, ve)
				if i < len(doc) && doc[i] == ',' {
					i = skipWS(doc, i+1)
				}
			}
			if !found {
				return "", false, nil
			}
		case st.index >= 0 && doc[i] == '[':
			i = skipWS(doc, i+1)
			for k := 0; ; k++ {
				if i >= len(doc) || doc[i] == ']' {
					return "", false, nil
				}
				if k == st.index {
					break
				}
				ve, err := skipValue(doc, i)
				if err != nil {
					return "", false, err
				}
				i = skipWS(doc, ve)
				if i < len(doc) && doc[i] == ',' {
					i = skipWS(doc, i+1)
				}
			}
		case st.index == 0:
			// $[0] of a scalar is the scalar itself (MySQL's auto-wrapping).
		default:
			return "", false, nil
		}
	}
	e, err := skipValue(doc, i)
	if err != nil {
		return "", false, err
	}
	return doc[i:e], true, nil
}

// jsonUnquote returns the text of a JSON string literal (JSON's escapes,
// \/ and \uXXXX surrogate pairs included; spaces around it ignored), or s
// unchanged when s is no JSON string.
func jsonUnquote(s string) string {
	t := strings.Trim(s, " \t\n\r")
	if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return s
	}
	if e, err := skipString(t, 0); err != nil || e != len(t) {
		return s
	}
	plain := true
	for i := 1; i < len(t)-1; i++ {
		if t[i] < 0x20 {
			return s // a control character must be escaped: no JSON string
		}
		if t[i] == '\\' {
			plain = false
		}
	}
	if plain {
		return t[1 : len(t)-1] // no escapes: the bytes as they are
	}
	var u string
	if err := json.Unmarshal([]byte(t), &u); err != nil {
		return s
	}
	return u
}

// jsonCanonical returns a JSON value's text as MariaDB prints a value it
// extracted: no white space outside strings but one space after each ','
// and ':' ({"b": [1, 2, 3]}); strings, numbers and literals keep their
// text ("\u00e9" stays escaped, 1e2 stays 1e2). Text that is not valid
// JSON is returned unchanged.
func jsonCanonical(s string) string {
	if s == "" || (s[0] != '{' && s[0] != '[') {
		return s
	}
	b := make([]byte, 0, len(s)+len(s)/4)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			e, err := skipString(s, i)
			if err != nil {
				return s
			}
			b = append(b, s[i:e]...)
			i = e - 1
		case ',', ':':
			b = append(b, c, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
