package connectors

import (
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Mask is what a secret is replaced by in everything etlq prints.
const Mask = "****"

// minSecretLen is the shortest value RegisterSecret keeps: replacing every
// "a" or "42" of a message would make it unreadable and hide nothing.
const minSecretLen = 3

// secrets is the process's set of secret values: DSN passwords, header
// values, signing secrets, files read by ${file:…}. RedactSecrets replaces
// them in text bound for a terminal, a log or a file.
var secrets struct {
	mu   sync.RWMutex
	vals map[string]bool
	// sorted longest first, so a secret that contains another is replaced
	// whole.
	sorted []string
}

// RegisterSecret adds v to the values RedactSecrets hides, with its
// URL-escaped forms (a password appears escaped in a DSN) and its quoted
// forms (a JSON log line, a %q in an error). Values shorter than 3 bytes
// are not kept. It is safe for concurrent use.
func RegisterSecret(v string) {
	v = strings.TrimSpace(v)
	if len(v) < minSecretLen {
		return
	}
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if secrets.vals == nil {
		secrets.vals = map[string]bool{}
	}
	j, _ := json.Marshal(v)
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	forms := []string{v, url.QueryEscape(v), url.PathEscape(v), userinfoEscape(v),
		strings.Trim(string(j), `"`), strings.Trim(strings.TrimSpace(plain.String()), `"`), strings.Trim(strconv.Quote(v), `"`)}
	for _, f := range forms {
		if !secrets.vals[f] {
			secrets.vals[f] = true
			secrets.sorted = append(secrets.sorted, f)
		}
	}
	sort.Slice(secrets.sorted, func(i, j int) bool { return len(secrets.sorted[i]) > len(secrets.sorted[j]) })
}

// userinfoEscape escapes v as url.URL.String escapes a password.
func userinfoEscape(v string) string {
	s := url.UserPassword("u", v).String()
	return strings.TrimPrefix(s, "u:")
}

// RedactSecrets returns s with every registered secret replaced by Mask and
// the credentials of any DSN or URL in it (RedactDSN) hidden.
func RedactSecrets(s string) string {
	secrets.mu.RLock()
	for _, v := range secrets.sorted {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Mask)
		}
	}
	secrets.mu.RUnlock()
	return redactURLs(s)
}

// urlUserinfo matches the user:password@ of a URL or a go-sql-driver DSN
// inside a longer text: a scheme:// or the start of a word, a user, a colon,
// the password (anything but white space and quotes, up to the last @
// before the host).
var urlUserinfo = regexp.MustCompile(`((?:[a-zA-Z][a-zA-Z0-9+.-]*://)?[^\s:/@"'(]*:)([^\s"']*)@((?:tcp|unix)?\(|[a-zA-Z0-9\[])`)

// credentialParam matches a URL query parameter whose name says it holds a
// credential.
var credentialParam = regexp.MustCompile(`(?i)([?&](?:password|passwd|pwd|token|access_token|api_key|apikey|key|secret|signature|sig|auth)=)[^&\s"']*`)

// RegisterURLSecrets registers the password of u and the values of its
// credential parameters (?token=…, credentialParam's names): an endpoint
// that quotes one back in an error ("invalid token=…") has it hidden too.
func RegisterURLSecrets(u *url.URL) {
	if u == nil {
		return
	}
	if u.User != nil {
		p, _ := u.User.Password()
		RegisterSecret(p)
	}
	for name, vs := range u.Query() {
		if credentialParam.MatchString("?" + name + "=x") {
			for _, v := range vs {
				RegisterSecret(v)
			}
		}
	}
}

// isRef reports whether s is one ${…} reference as written in a file.
func isRef(s string) bool {
	return strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") && strings.Count(s, "}") == 1
}

// redactURLs hides user:password@ and credential parameters in s.
func redactURLs(s string) string {
	if strings.Contains(s, "@") {
		s = urlUserinfo.ReplaceAllStringFunc(s, func(m string) string {
			sub := urlUserinfo.FindStringSubmatch(m)
			// Already masked (all '*'), a template ("user:password@host"),
			// or a URL with a user and no password: "scheme:" then "//user".
			// A ${…} reference as written (an error quoting the line of
			// a file) holds no secret, and the caret under it must
			// still point at it.
			if strings.Trim(sub[2], "*") == "" || strings.EqualFold(sub[2], "password") || strings.HasPrefix(sub[2], "//") || isRef(sub[2]) {
				return m
			}
			// An @ inside the password: the host follows the last one.
			return sub[1] + Mask + "@" + sub[3]
		})
	}
	if strings.Contains(s, "=") {
		s = credentialParam.ReplaceAllStringFunc(s, func(m string) string {
			name, v, _ := strings.Cut(m, "=")
			if v == "" || isRef(v) {
				return m // empty, or a reference as written
			}
			return name + "=" + Mask
		})
	}
	return s
}

// UnescapedPassword reports whether dsn (scheme://user:password@host…)
// reads as a password with an unescaped '@' and then '/', '?' or '#': a
// URL parser ends the host at that '/', '?' or '#' and takes the rest of
// the password for the host, the path or a parameter, which errors would
// then quote. It is so when an '@' follows the end of the authority with
// no '=' between them (an '@' in a parameter's value follows a '=').
func UnescapedPassword(dsn string) bool {
	_, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	first := strings.Index(rest, "@")
	if end < 0 || first < 0 || first > end {
		return false
	}
	last := strings.LastIndex(rest, "@")
	return last > end && !strings.Contains(rest[end:last], "=")
}

// UnescapedPasswordHint is the error for a DSN UnescapedPassword reports.
const UnescapedPasswordHint = "the user:password part does not parse: a password with '@', ':', '/', '?', '#' or '%' must be percent-escaped (%40 for '@'), or come from ${VAR} or ${file:…}, whose values etlq escapes"

// RedactDSN returns a DSN fit to print: the password of a URL-form DSN
// (scheme://user:password@host…, also one url.Parse refuses) or of a
// go-sql-driver DSN (user:password@tcp(host)/db) replaced by Mask, and
// credential parameters (?password=…, ?token=…) hidden.
func RedactDSN(dsn string) string {
	return RedactSecrets(dsn)
}

// RedactingWriter returns a writer that passes each Write through
// RedactSecrets. It suits writers that receive whole lines or messages
// (loggers, error printers): a secret split across two Writes is not
// recognised.
func RedactingWriter(w io.Writer) io.Writer { return redactingWriter{w} }

type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(b []byte) (int, error) {
	s := RedactSecrets(string(b))
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(b), nil
}
