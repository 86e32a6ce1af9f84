package lang

import (
	"net/url"
	"regexp"
	"strings"
)

// userinfo is where the user:password part of a DSN lies in a string
// literal as written: [start, end) with the first ':' at colon (end when
// there is none).
type userinfo struct {
	start, colon, end int
	ok                bool
}

// skipRef returns the index after a ${…} or $${ starting at s[i:], or i
// when none starts there.
func skipRef(s string, i int) int {
	switch {
	case strings.HasPrefix(s[i:], "$${"):
		return i + 3
	case strings.HasPrefix(s[i:], "${"):
		if k := strings.IndexByte(s[i:], '}'); k >= 0 {
			return i + k + 1
		}
		return len(s)
	}
	return i
}

// userinfoOf finds the user:password part of the DSN or URL written in
// s[from:] (scheme://user:password@host…), with ${…} references taken as
// opaque: the '@' and ':' that count are the ones written, not ones a
// value may hold.
func userinfoOf(s string, from int) userinfo {
	start := -1
	for i := from; i < len(s); {
		if j := skipRef(s, i); j > i {
			i = j
			continue
		}
		if strings.HasPrefix(s[i:], "://") {
			start = i + 3
			break
		}
		if c := s[i]; c == '/' || c == '?' || c == '@' || c == ' ' {
			return userinfo{}
		}
		i++
	}
	if start < 0 {
		return userinfo{}
	}
	at, colon := -1, -1
	for i := start; i < len(s); {
		if j := skipRef(s, i); j > i {
			i = j
			continue
		}
		c := s[i]
		if c == '/' || c == '?' || c == '#' {
			break
		}
		if c == '@' {
			at = i
		}
		i++
	}
	if at < 0 {
		return userinfo{}
	}
	for i := start; i < at; {
		if j := skipRef(s, i); j > i {
			i = j
			continue
		}
		if s[i] == ':' {
			colon = i
			break
		}
		i++
	}
	if colon < 0 {
		colon = at
	}
	return userinfo{start: start, colon: colon, end: at, ok: true}
}

// queryValueAt reports whether s[i:] (a ${…} reference) lies in the value
// of a parameter of the DSN or URL written in s[from:]
// (scheme://…?name=value&…), and the parameter's name as written. ${…}
// references before i are taken as opaque, as in userinfoOf: the '?', '&',
// '=' and '#' that count are the ones written.
func queryValueAt(s string, from, i int) (string, bool) {
	scheme, query, value := false, false, false
	nameStart, name := 0, ""
	for k := from; k < i; {
		if j := skipRef(s, k); j > k {
			k = j
			continue
		}
		switch c := s[k]; {
		case !scheme:
			if strings.HasPrefix(s[k:], "://") {
				scheme = true
				k += 2
			} else if c == '/' || c == '?' || c == '@' || c == ' ' {
				return "", false
			}
		case c == '#':
			return "", false
		case !query:
			if c == '?' {
				query, nameStart = true, k+1
			}
		case c == '&':
			value, nameStart = false, k+1
		case c == '=' && !value:
			value, name = true, s[nameStart:k]
		}
		k++
	}
	return name, value
}

// credentialName matches a URL parameter's name that says its value is a
// credential (as credentialParam, and connectors' list).
var credentialName = regexp.MustCompile(`(?i)^(?:password|passwd|pwd|token|access_token|api_key|apikey|key|secret|signature|sig|auth)$`)

// escapeUserinfo percent-escapes v for the user or password of a URL, as
// url.URL.String does: '@', ':', '/', '?', '#', '%' and the like.
func escapeUserinfo(v string) string {
	return strings.TrimPrefix(url.UserPassword("u", v).String(), "u:")
}

// secretOptions are the WITH options whose string values are secrets as a
// whole (or, for headers, in the value of each header named as a
// credential).
var secretOptions = map[string]bool{
	"headers": true, "signing_secret": true, "password": true, "token": true, "secret": true,
}

// credentialHeader matches the name of a header whose value is a
// credential: the others' values are shown (as connectors/http's
// credentialHeader, which hides the same values in logs and errors).
var credentialHeader = regexp.MustCompile(`(?i)auth|token|key|secret|cookie|password|signature`)

// authSchemes are the Authorization schemes left visible before a masked
// credential.
var authSchemes = map[string]bool{"bearer": true, "basic": true, "token": true, "digest": true}

// goSQLDriverPassword finds the password of user:password@tcp(…) DSNs.
var goSQLDriverPassword = regexp.MustCompile(`^[^:@/'\s]*:(.*)@(?:tcp|unix)?\(`)

// credentialParam finds the value of a URL parameter named as a credential.
var credentialParam = regexp.MustCompile(`(?i)[?&](?:password|passwd|pwd|token|access_token|api_key|apikey|key|secret|signature|sig|auth)=([^&]*)`)

// MaskByte marks, byte for byte, a secret masked by MaskSecrets: the
// masked copy keeps the source's length, so that every position still
// points at the same place, and ShowMasked turns each run of them into
// Mask when a line is shown, so that the secret's length is not shown
// either.
const MaskByte = 0

// Mask is what a masked secret is shown as, whatever its length (the same
// as connectors.Mask).
const Mask = "****"

// ShowMasked returns s, a text masked by MaskSecrets, as it is shown: each
// run of MaskByte replaced by Mask.
func ShowMasked(s string) string {
	if strings.IndexByte(s, MaskByte) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != MaskByte {
			b.WriteByte(s[i])
			continue
		}
		b.WriteString(Mask)
		for i+1 < len(s) && s[i+1] == MaskByte {
			i++
		}
	}
	return b.String()
}

// MaskSecrets returns a copy of a file's source with the secrets written
// in it inline replaced by MaskByte, byte for byte (so that positions
// still point at the same columns; ShowMasked shows each as Mask): the password of a DSN or URL in any string
// literal, credential parameters of URLs (?password=, ?token=, …), the
// values of the options signing_secret, password, token and secret, and
// those of the headers named as credentials in headers. ${…} references stay as written: they hold no secret. Error
// messages quote lines of this copy, never of the file itself.
func MaskSecrets(src []byte) []byte {
	out := []byte(string(src))
	s := string(src)
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "--"):
			if k := strings.IndexByte(s[i:], '\n'); k >= 0 {
				i += k + 1
			} else {
				i = len(s)
			}
		case strings.HasPrefix(s[i:], "/*"):
			if k := strings.Index(s[i+2:], "*/"); k >= 0 {
				i += k + 4
			} else {
				i = len(s)
			}
		case s[i] == '`':
			if k := strings.IndexByte(s[i+1:], '`'); k >= 0 {
				i += k + 2
			} else {
				i = len(s)
			}
		case s[i] == '\'':
			j := i + 1
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			maskLiteral(out, s, i+1, j, optionBefore(s, i))
			i = j + 1
		default:
			i++
		}
	}
	return out
}

// optionBefore returns the lower-cased option name of "name = '…'" when
// the literal at i is an option's value, else "".
func optionBefore(s string, i int) string {
	j := i - 1
	for j >= 0 && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
		j--
	}
	if j < 0 || s[j] != '=' {
		return ""
	}
	j--
	for j >= 0 && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
		j--
	}
	end := j + 1
	for j >= 0 && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
		j--
	}
	return strings.ToLower(s[j+1 : end])
}

// maskLiteral masks the secrets of the literal s[lo:hi] (quotes excluded)
// in out.
func maskLiteral(out []byte, s string, lo, hi int, option string) {
	lit := s[lo:hi]
	if secretOptions[option] {
		if option != "headers" {
			maskRange(out, s, lo, hi)
			return
		}
		sep := ";"
		if strings.Contains(lit, "\n") {
			sep = "\n"
		}
		off := lo
		for _, part := range strings.Split(lit, sep) {
			// A header named as a credential ('X-Team: notify' is shown
			// as written: masked, it said nothing the file did not).
			if k := strings.IndexByte(part, ':'); k >= 0 && credentialHeader.MatchString(part[:k]) {
				from := off + k + 1
				// "Bearer", "Basic", … name the scheme, not the secret.
				v := strings.TrimLeft(part[k+1:], " \t")
				if w, _, ok := strings.Cut(v, " "); ok && authSchemes[strings.ToLower(w)] {
					from = off + len(part) - len(v) + len(w)
				}
				maskRange(out, s, from, off+len(part))
			}
			off += len(part) + len(sep)
		}
		return
	}
	if ui := userinfoOf(s[:hi], lo); ui.ok && ui.colon < ui.end {
		maskRange(out, s, ui.colon+1, ui.end)
	} else if m := goSQLDriverPassword.FindStringSubmatchIndex(lit); m != nil {
		maskRange(out, s, lo+m[2], lo+m[3])
	}
	for _, m := range credentialParam.FindAllStringSubmatchIndex(lit, -1) {
		maskRange(out, s, lo+m[2], lo+m[3])
	}
}

// maskRange replaces the bytes of s[lo:hi] by MaskByte in out, leaving
// ${…} references and white space as they are.
func maskRange(out []byte, s string, lo, hi int) {
	for i := lo; i < hi; {
		if j := skipRef(s, i); j > i {
			i = j
			continue
		}
		if c := s[i]; c != ' ' && c != '\t' {
			out[i] = MaskByte
		}
		i++
	}
}
