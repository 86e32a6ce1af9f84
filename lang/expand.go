package lang

import (
	"strings"
)

// Expand replaces ${NAME} in the DSNs of sources and sinks, in the targets
// of INTO file/http and in the string values of WITH options, using lookup
// (usually os.LookupEnv). It sets StringLit.Value (or Literal.Value for
// options) and keeps Raw, so that fmt and error messages never show the
// expanded text. "$${" stands for a literal "${". An unset variable is an
// error at the position of its "${"; an empty value is not.
func Expand(f *File, lookup func(string) (string, bool)) Errors {
	var errs Errors
	str := func(s *StringLit) {
		if s == nil {
			return
		}
		v, e := expandRaw(s.Raw, s.Pos, lookup)
		errs = append(errs, e...)
		if len(e) == 0 {
			s.Value = v
		}
	}
	opts := func(os []*Option) {
		for _, o := range os {
			if l, ok := o.Value.(*Literal); ok && l.Kind == LitString {
				v, e := expandRaw(l.Raw, l.Pos, lookup)
				errs = append(errs, e...)
				if len(e) == 0 {
					l.Value = v
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
// its ${NAME} references.
func expandRaw(raw string, pos Pos, lookup func(string) (string, bool)) (string, Errors) {
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
			switch v, ok := lookup(name); {
			case !validVarName(name):
				errs = append(errs, &Error{Pos: p, EndPos: e, Msg: "invalid variable name " + quote(name) + " in ${…} (letters, digits and _, not starting with a digit)"})
			case !ok:
				errs = append(errs, &Error{Pos: p, EndPos: e, Msg: "environment variable " + quote(name) + " is not set"})
			default:
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
