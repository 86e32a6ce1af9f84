package mysql

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/etlq/etlq/connectors"
)

// TLS modes of the ssl_mode option, named as the mysql client's --ssl-mode
// and Debezium's database.ssl.mode name them.
const (
	SSLDisabled       = "disabled"        // plain TCP
	SSLPreferred      = "preferred"       // TLS when the server offers it, else plain; no verification
	SSLRequired       = "required"        // TLS or no connection; no verification
	SSLVerifyCA       = "verify_ca"       // TLS, the server's certificate chains to ssl_ca (or the system roots)
	SSLVerifyIdentity = "verify_identity" // verify_ca, and the certificate names the DSN's host
)

// sslModes are the ssl_mode values, in order of strictness.
var sslModes = []string{SSLDisabled, SSLPreferred, SSLRequired, SSLVerifyCA, SSLVerifyIdentity}

// sslOptions are the TLS settings, given as WITH options or as DSN
// parameters (?ssl_mode=…&ssl_ca=…, for `etlq repl --source`).
var sslOptions = []string{"ssl_mode", "ssl_ca", "ssl_cert", "ssl_key"}

// TLSConfig is a source's resolved TLS settings.
type TLSConfig struct {
	Mode             string // one of the SSL* modes
	CA, Cert, Key    string // file paths, "" when not given
	config           *tls.Config
	preferredPlainOK bool
}

// errNoServerTLS is go-mysql's error for a server that does not offer TLS
// (client/auth.go), which ssl_mode = 'preferred' answers with a plain
// connection.
const errNoServerTLS = "does not support TLS"

// newTLSConfig checks the settings and loads the files. host is the name
// verify_identity checks the certificate against.
func newTLSConfig(mode, ca, cert, key, host string) (*TLSConfig, error) {
	given := mode != ""
	if !given {
		mode = SSLPreferred
	}
	mode = strings.ToLower(mode)
	ok := false
	for _, m := range sslModes {
		ok = ok || m == mode
	}
	if !ok {
		return nil, connectors.OptionErrorf("ssl_mode", "option \"ssl_mode\": want one of '%s', got %q", strings.Join(sslModes, "', '"), mode)
	}
	t := &TLSConfig{Mode: mode, CA: ca, Cert: cert, Key: key}
	if (cert == "") != (key == "") {
		return nil, connectors.OptionErrorf(map[bool]string{true: "ssl_cert", false: "ssl_key"}[cert != ""], "options \"ssl_cert\" and \"ssl_key\" go together: give both (a client certificate and its key) or neither")
	}
	if mode == SSLDisabled {
		if ca != "" || cert != "" {
			return nil, connectors.OptionErrorf(map[bool]string{true: "ssl_ca", false: "ssl_cert"}[ca != ""], "ssl_mode = 'disabled' with ssl_ca, ssl_cert or ssl_key: the files would not be used (remove them, or ask for TLS)")
		}
		return t, nil
	}
	if ca != "" && (mode == SSLPreferred || mode == SSLRequired) {
		// preferred and required do not check the certificate: the CA
		// would be read and never used, and a server posing as the real
		// one (or a wrong CA) would connect all the same.
		which := "ssl_mode = '" + mode + "'"
		if !given {
			which += " (the default)"
		}
		return nil, connectors.OptionErrorf("ssl_ca", "ssl_ca is not used under %s, which does not verify the server's certificate: set ssl_mode = 'verify_identity' (or 'verify_ca', which does not check the host name) to verify it against the CA, or remove ssl_ca", which)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, connectors.OptionErrorf("ssl_ca", "option \"ssl_ca\": %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, connectors.OptionErrorf("ssl_ca", "option \"ssl_ca\": %s holds no PEM certificate", ca)
		}
		c.RootCAs = pool
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, connectors.OptionErrorf("ssl_cert", "options \"ssl_cert\" and \"ssl_key\": %v", err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	switch mode {
	case SSLPreferred, SSLRequired:
		// Encryption without authentication, as the mysql client's
		// PREFERRED and REQUIRED: the certificate is not checked.
		c.InsecureSkipVerify = true
	case SSLVerifyCA:
		// The chain is checked, the name is not.
		c.InsecureSkipVerify = true
		c.VerifyPeerCertificate = verifyChain(c.RootCAs)
	case SSLVerifyIdentity:
		c.ServerName = host
	}
	t.config = c
	return t, nil
}

// verifyChain checks that the server's certificate chains to roots (nil:
// the system's), whatever name it holds.
func verifyChain(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("the server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return fmt.Errorf("the server's certificate: %v", err)
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
}

// tlsFor returns the tls.Config a new connection uses: nil for a plain one.
// A preferred mode whose server offered no TLS stays plain for the life of
// the source.
func (t *TLSConfig) tlsFor() *tls.Config {
	if t == nil || t.config == nil || t.preferredPlainOK {
		return nil
	}
	return t.config.Clone()
}

// explain turns a TLS handshake failure into what the user can act on.
func (t *TLSConfig) explain(err error) error {
	if t == nil || err == nil {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "ERROR 1045") && t.config == nil {
		// MariaDB says the same for a wrong password, for a user created
		// REQUIRE SSL or X509 and for a server with
		// require_secure_transport = ON, reached without TLS.
		return fmt.Errorf("%v (a wrong password, or the server wants TLS and this connection is plain (ssl_mode = '%s'): a user created REQUIRE SSL or X509, or the server's require_secure_transport = ON; then set ssl_mode = 'verify_identity' (or 'required'), and ssl_cert and ssl_key for X509)", err, t.Mode)
	}
	if strings.Contains(msg, "ERROR 1045") && t.Cert == "" {
		// MariaDB says the same for a wrong password and for a user
		// created REQUIRE SSL or X509 that came without them.
		return fmt.Errorf("%v (a wrong password, or a user created REQUIRE SSL or X509: then set ssl_mode, and ssl_cert and ssl_key for X509)", err)
	}
	if t.config == nil {
		return err
	}
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	switch {
	case strings.Contains(msg, errNoServerTLS):
		return fmt.Errorf("ssl_mode = '%s', but the server does not offer TLS (its have_ssl is DISABLED: give it ssl_cert and ssl_key)", t.Mode)
	case errors.As(err, &hostErr) || strings.Contains(msg, "certificate is valid for") || strings.Contains(msg, "doesn't contain any IP SANs"):
		return fmt.Errorf("ssl_mode = 'verify_identity': the server's certificate does not name the host of the DSN (%v); connect by a name the certificate holds, or use ssl_mode = 'verify_ca'", err)
	case errors.As(err, &authErr) || strings.Contains(msg, "certificate signed by unknown authority"):
		what := "the system's certificate authorities"
		if t.CA != "" {
			what = "ssl_ca " + t.CA
		}
		return fmt.Errorf("ssl_mode = '%s': the server's certificate is not signed by %s (%v)", t.Mode, what, err)
	case strings.Contains(msg, "remote error: tls: "):
		// A TLS alert from the server: it refused this side of the
		// handshake, which with a server that verifies clients is the
		// client certificate (the driver said "connection was bad").
		return fmt.Errorf("%s: %v", t.clientRefused(msg), err)
	case t.Cert != "" && strings.Contains(msg, "writeAuthHandshake") && strings.Contains(msg, "connection reset by peer"):
		// The same refusal when the server cut the connection before
		// its alert was read.
		return fmt.Errorf("%v (the server closed the connection in the TLS handshake: it may refuse the client certificate ssl_cert %s: is it signed by a CA the server trusts, the server's ssl_ca?)", err, t.Cert)
	}
	return err
}

// clientRefused says why a server answered the handshake with a TLS alert
// (remote error: tls: …): the client certificate it was given, or the one
// it was not.
func (t *TLSConfig) clientRefused(msg string) string {
	if t.Cert == "" {
		return "the server refused the TLS handshake: if it asks for a client certificate, give one as ssl_cert and ssl_key"
	}
	why := "the server refused the client certificate ssl_cert " + t.Cert
	switch {
	case strings.Contains(msg, "unknown certificate authority"), strings.Contains(msg, "unknown ca"), strings.Contains(msg, "bad certificate"), strings.Contains(msg, "certificate required"):
		// (certificate required: the client did not send it, as the
		// server named the CAs it accepts and none signed it.)
		why += ": it is not signed by a CA the server trusts (the server's ssl_ca)"
	case strings.Contains(msg, "certificate expired"):
		why += ": it has expired"
	case strings.Contains(msg, "certificate revoked"):
		why += ": it is revoked"
	}
	return why
}

var _ connectors.InsecureWarner = (*Source)(nil)

// InsecureWarnings names ssl_mode = 'required': TLS that accepts any
// certificate (as the mysql client's REQUIRED), so that whoever is on the
// network path can pose as the server and read the rows and the password
// — the same as the ClickHouse sink's skip_verify = true. The default,
// preferred, is not named: it is the server's choice, and a plain
// connection under it is warned of when it is made.
func (s *Source) InsecureWarnings() []string {
	if s.cfg == nil || s.cfg.TLS == nil || s.cfg.TLS.Mode != SSLRequired {
		return nil
	}
	return []string{"ssl_mode = 'required': the server's certificate is not verified (anyone on the network path can pose as the server and read the rows and the password); set ssl_mode = 'verify_identity' with the server's CA as ssl_ca instead"}
}
