package lang

import (
	"errors"
	"net/url"
	"os"
	"strings"
)

// Expand replaces ${NAME} in the DSNs of sources and sinks, in the targets
// of INTO file/http and in the string values of WITH options, using lookup
// (usually os.LookupEnv), and ${file:PATH} by the content of the file PATH
// (the Docker and Kubernetes secrets convention; one trailing newline
// dropped). It sets StringLit.Value (or Literal.Value for options) and
// keeps Raw, so that fmt and error messages never show the expanded text.
// "$${" stands for a literal "${". An unset variable or an unreadable file
// is an error at the position of its "${"; an empty value is not.
//
// In a DSN or URL (scheme://user:password@host…), a value put into the
// user:password part is percent-escaped, so that a password with '@', ':',
// '/', '#' or '%' means itself: the connector reads it back unescaped. A
// value put into a parameter's value (?password=${PW}) is query-escaped
// for the same reason ('#', '&', '+', '%').
func Expand(f *File, lookup func(string) (string, bool)) Errors {
	return ExpandWith(f, Expansion{Lookup: lookup})
}

// Expansion is how ExpandWith resolves references.
type Expansion struct {
	// Lookup resolves ${NAME} (usually os.LookupEnv).
	Lookup func(string) (string, bool)
	// ReadFile resolves ${file:PATH}; nil: os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Secret, when set, is called with each value that is a secret: the
	// content of a ${file:…} and a value put into the password of a DSN.
	Secret func(string)
	// ref, when set, is called with the value of each reference.
	ref func(string)
}

// ExpandWith is Expand with the file reader and a secret hook given.
func ExpandWith(f *File, x Expansion) Errors {
	if x.ReadFile == nil {
		x.ReadFile = os.ReadFile
	}
	if x.Secret == nil {
		x.Secret = func(string) {}
	}
	var errs Errors
	str := func(s *StringLit) {
		if s == nil {
			return
		}
		v, e := expandRaw(s.Raw, s.Pos, x, true)
		errs = append(errs, e...)
		if len(e) == 0 {
			s.Value = v
		}
	}
	opts := func(os []*Option) {
		for _, o := range os {
			if l, ok := o.Value.(*Literal); ok && l.Kind == LitString {
				var refs []string
				xo := x
				xo.ref = func(v string) { refs = append(refs, v) }
				v, e := expandRaw(l.Raw, l.Pos, xo, false)
				errs = append(errs, e...)
				if len(e) == 0 {
					l.Value, l.Refs = v, refs
				}
			}
		}
	}
	for _, st := range f.Statements {
		switch {
		case st.Source != nil:
			str(st.Source.DSN)
			opts(st.Source.With)
		case st.Sink != nil:
			str(st.Sink.DSN)
			opts(st.Sink.With)
		case st.Pipeline != nil:
			if st.Pipeline.Into != nil {
				str(st.Pipeline.Into.Target)
			}
			opts(st.Pipeline.With)
		}
	}
	return errs
}

// expandRaw unquotes the string literal raw (written at pos) and replaces
// its ${NAME} and ${file:PATH} references; in a DSN (dsn), values in the
// userinfo are percent-escaped.
func expandRaw(raw string, pos Pos, x Expansion, dsn bool) (string, Errors) {
	if len(raw) < 2 {
		return raw, nil
	}
	var (
		sb   strings.Builder
		errs Errors
	)
	at := func(i, j int) (Pos, Pos) {
		p := pos
		p.Advance(raw[:i])
		e := pos
		e.Advance(raw[:j])
		return p, e
	}
	body := raw[:len(raw)-1]
	ui := userinfoOf(body, 1)
	for i := 1; i < len(body); {
		switch {
		case body[i] == '\'' && i+1 < len(body) && body[i+1] == '\'':
			sb.WriteByte('\'')
			i += 2
		case strings.HasPrefix(body[i:], "$${"):
			sb.WriteString("${")
			i += 3
		case strings.HasPrefix(body[i:], "${"):
			end := strings.IndexByte(body[i:], '}')
			if end < 0 {
				p, e := at(i, i+2)
				errs = append(errs, &Error{Pos: p, EndPos: e, Msg: "unterminated \"${\": missing \"}\""})
				return "", errs
			}
			name := body[i+2 : i+end]
			p, e := at(i, i+end+1)
			v, err := resolveRef(name, x)
			if err != "" {
				errs = append(errs, &Error{Pos: p, EndPos: e, Msg: err})
			} else {
				if x.ref != nil {
					x.ref(v)
				}
				if dsn && ui.ok && i >= ui.start && i < ui.end {
					if i > ui.colon {
						x.Secret(v)
					}
					v = escapeUserinfo(v)
				} else if name, ok := queryValueAt(body, 1, i); dsn && ok {
					// ?password=${PW}: a '#', '&' or '+' of the value
					// means itself, as in the user:password part.
					if credentialName.MatchString(name) {
						x.Secret(v)
					}
					v = url.QueryEscape(v)
				}
				sb.WriteString(v)
			}
			i += end + 1
		default:
			sb.WriteByte(body[i])
			i++
		}
	}
	return sb.String(), errs
}

// resolveRef resolves the name inside ${…}: "file:PATH" or a variable.
// It returns an error message, or "".
func resolveRef(name string, x Expansion) (string, string) {
	if path, ok := strings.CutPrefix(name, "file:"); ok {
		if path == "" {
			return "", "empty file name in ${file:…}"
		}
		b, err := x.ReadFile(path)
		if err != nil {
			return "", "cannot read secret file: " + strings.TrimPrefix(err.Error(), "open ")
		}
		v := strings.TrimSuffix(string(b), "\n")
		v = strings.TrimSuffix(v, "\r")
		x.Secret(v)
		return v, ""
	}
	if !validVarName(name) {
		return "", "invalid variable name " + quote(name) + " in ${…} (letters, digits and _, not starting with a digit; or file:PATH)"
	}
	v, ok := x.Lookup(name)
	if !ok {
		return "", "environment variable " + quote(name) + " is not set"
	}
	return v, ""
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ExpandURL expands ${NAME} and ${file:PATH} in a DSN or URL given outside
// a file (a command-line flag: etlq repl --source, --log nats://…), as in a
// file's DSN: a value put into the user:password part is percent-escaped
// and passed to x.Secret. Written in single quotes, the reference reaches
// etlq unexpanded, so the secret is in neither the shell's history nor the
// process's argv (ps). "$${" stands for a literal "${".
func ExpandURL(s string, x Expansion) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	if x.ReadFile == nil {
		x.ReadFile = os.ReadFile
	}
	if x.Secret == nil {
		x.Secret = func(string) {}
	}
	v, errs := expandRaw("'"+strings.ReplaceAll(s, "'", "''")+"'", Pos{}, x, true)
	if len(errs) > 0 {
		return "", errors.New(errs[0].Msg)
	}
	return v, nil
}

// UnexpandedRefs returns a warning for each string of a pipeline's WHERE
// or TRANSFORM that holds a ${NAME} or ${file:PATH}: those are replaced in
// DSNs, INTO file/http targets and string option values only, so in an
// expression the text stays as written (WHERE customer = '${CUST}'
// compares with the text "${CUST}").
func UnexpandedRefs(f *File) Errors {
	var warns Errors
	for _, st := range f.Statements {
		p := st.Pipeline
		if p == nil {
			continue
		}
		var exprs []Node
		if p.Where != nil {
			exprs = append(exprs, p.Where)
		}
		for _, it := range p.Transform {
			if it.Expr != nil {
				exprs = append(exprs, it.Expr)
			}
		}
		for _, e := range exprs {
			Walk(e, func(n Node) bool {
				l, ok := n.(*Literal)
				if !ok || l.Kind != LitString {
					return true
				}
				for i := 0; i+1 < len(l.Raw); i++ {
					if l.Raw[i] == '$' && l.Raw[i+1] == '$' {
						i++ // $${ writes ${ where references are replaced
						continue
					}
					end := strings.IndexByte(l.Raw[i:], '}')
					if !strings.HasPrefix(l.Raw[i:], "${") || end < 0 {
						continue
					}
					name := l.Raw[i+2 : i+end]
					if !validVarName(name) && !strings.HasPrefix(name, "file:") {
						continue
					}
					ps, pe := l.Pos, l.Pos
					ps.Advance(l.Raw[:i])
					pe.Advance(l.Raw[:i+end+1])
					warns = append(warns, &Error{Pos: ps, EndPos: pe, Msg: "${" + name + "} is not replaced in an expression: the string keeps it as written (${…} is replaced in DSNs, INTO file/http targets and string option values)"})
					break
				}
				return true
			})
		}
	}
	return warns
}
