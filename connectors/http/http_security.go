package http

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/etlq/etlq/connectors"
)

// DefaultSignatureHeader is the header that carries a request's signature
// when signing_secret is set.
const DefaultSignatureHeader = "X-Etlq-Signature"

// securityOptions are the options for signing and TLS.
var securityOptions = []connectors.Option{
	{Name: "signing_secret", Type: connectors.OptString,
		Doc: "HMAC-SHA256 key: each request carries 'X-Etlq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">' (give it as '${VAR}' or '${file:PATH}'; docs/security.md shows how to verify)", Secret: true},
	{Name: "signature_header", Type: connectors.OptString, Default: DefaultSignatureHeader, Doc: "name of the signature header"},
	{Name: "tls_ca", Type: connectors.OptString, Doc: "PEM file of the certificate authorities that verify an https endpoint (default: the system's)"},
	{Name: "tls_cert", Type: connectors.OptString, Doc: "PEM file of a client certificate for an https endpoint that asks for one (with tls_key)"},
	{Name: "tls_key", Type: connectors.OptString, Doc: "PEM file of the client certificate's private key"},
}

// security is a target's signing and TLS settings.
type security struct {
	signSecret []byte
	sigHeader  string
	tls        *tls.Config // nil: the default transport's
	tlsCA      string      // the tls_ca file, "" for the system's CAs
}

func (c *config) resolveSecurity(opts *connectors.Options) error {
	if secret := opts.String("signing_secret"); secret != "" {
		connectors.RegisterSecret(secret)
		c.signSecret = []byte(secret)
	}
	if c.sigHeader = opts.String("signature_header"); c.sigHeader == "" {
		return errors.New("option \"signature_header\" cannot be empty")
	}
	ca, cert, key := opts.String("tls_ca"), opts.String("tls_cert"), opts.String("tls_key")
	c.tlsCA = ca
	if ca == "" && cert == "" && key == "" {
		return nil
	}
	if c.url.Scheme != "https" {
		return errors.New("options tls_ca, tls_cert and tls_key need an https URL")
	}
	if (cert == "") != (key == "") {
		return errors.New("options \"tls_cert\" and \"tls_key\" go together: give both (a client certificate and its key) or neither")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return fmt.Errorf("option \"tls_ca\": %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("option \"tls_ca\": %s holds no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("options \"tls_cert\" and \"tls_key\": %v", err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	c.tls = tc
	return nil
}

// clientFor returns the client a target's writer uses: the sink's, or one
// with the target's TLS settings.
func (c *config) clientFor(def *nethttp.Client) *nethttp.Client {
	if c.tls == nil {
		return def
	}
	t := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
	t.TLSClientConfig = c.tls
	return &nethttp.Client{Transport: t, Timeout: def.Timeout}
}

// Sign returns the signature header value of body at time now:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>". A
// receiver recomputes it over the body exactly as received and refuses a
// request whose t is too far from its clock (a replay).
func Sign(secret, body []byte, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// notTLS reports whether err is what an https:// URL to a plain http port
// gets: the answer is no TLS record. Retrying cannot help it either.
func notTLS(err error) bool {
	var he tls.RecordHeaderError
	return errors.As(err, &he) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// explainTLS says what a failed TLS handshake with the endpoint means and
// what to do, as the MySQL source and the ClickHouse sink say it; msg is
// the failure's text (connError's).
func (c *config) explainTLS(err error, msg string) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ua):
		what := "the system's certificate authorities"
		if c.tlsCA != "" {
			what = "tls_ca " + c.tlsCA
		}
		return fmt.Sprintf("the endpoint's certificate is not signed by %s (%s)", what, msg)
	case errors.As(err, &he):
		return fmt.Sprintf("the endpoint's certificate does not name the URL's host (%s); use a name it holds in the URL", msg)
	case notTLS(err):
		return fmt.Sprintf("the endpoint did not answer in TLS (%s): is the URL's port a plain http one? (then write http://)", msg)
	}
	return msg
}

// certError reports whether err is a failed certificate verification, on
// either side (the endpoint refusing etlq's client certificate, or its
// absence, arrives as a TLS alert): retrying cannot help.
func certError(err error) bool {
	var ve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	if errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he) {
		return true
	}
	msg := err.Error()
	for _, a := range []string{"tls: certificate required", "tls: bad certificate", "tls: unknown certificate authority",
		"tls: certificate expired", "tls: unsupported certificate", "tls: certificate revoked"} {
		if strings.Contains(msg, a) {
			return true
		}
	}
	return false
}

var _ connectors.TargetInsecureWarner = (*Sink)(nil)

// credentialHeader matches the name of a header that carries a credential:
// its value is a secret (config), the others' are not. (lang's
// credentialHeader, which masks the same values where a line of the file
// is quoted, is the same pattern.)
var credentialHeader = regexp.MustCompile(`(?i)auth|token|key|secret|cookie|password|signature`)

// InsecureTargetWarnings names the credentials of t (a header that
// carries one, the URL's password or credential parameters) that go over
// plain http to a host other than this machine's loopback: whoever is on
// the path reads them with every request.
func (s *Sink) InsecureTargetWarnings(t connectors.Target) []string {
	c, err := s.config(t)
	if err != nil || c.url.Scheme != "http" {
		return nil
	}
	host := c.url.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	var what []string
	for _, h := range c.headers {
		if credentialHeader.MatchString(h[0]) {
			what = append(what, "the "+h[0]+" header")
		}
	}
	if c.url.User != nil {
		if _, ok := c.url.User.Password(); ok {
			what = append(what, "the URL's password")
		}
	}
	for name := range c.url.Query() {
		if credentialHeader.MatchString(name) {
			what = append(what, "the URL's "+name+" parameter")
		}
	}
	if len(what) == 0 {
		return nil
	}
	sort.Strings(what)
	verb := "goes"
	if len(what) > 1 {
		verb = "go"
	}
	return []string{strings.Join(what, ", ") + " " + verb + " over plain http to " + host + ", readable by anyone on the path: use an https:// URL"}
}
