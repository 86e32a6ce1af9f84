package clickhouse

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/etlq/etlq/connectors"
)

// applyTLSOptions adds the tls_ca, tls_cert and tls_key options to the TLS
// settings the DSN asked for (?secure=true, skip_verify, tls_server_name).
func applyTLSOptions(o *clickhouse.Options, opts *connectors.Options) error {
	ca, cert, key := opts.String("tls_ca"), opts.String("tls_cert"), opts.String("tls_key")
	if ca == "" && cert == "" && key == "" {
		return nil
	}
	if o.TLS == nil {
		return errors.New("options tls_ca, tls_cert and tls_key need TLS: add ?secure=true to the DSN (and use the secure native port, 9440 by default)")
	}
	if (cert == "") != (key == "") {
		return connectors.OptionErrorf(map[bool]string{true: "tls_cert", false: "tls_key"}[cert != ""], "options \"tls_cert\" and \"tls_key\" go together: give both (a client certificate and its key) or neither")
	}
	if ca != "" {
		if o.TLS.InsecureSkipVerify {
			return connectors.OptionErrorf("tls_ca", "option \"tls_ca\" with skip_verify=true in the DSN: the CA would not be used (remove one)")
		}
		pem, err := os.ReadFile(ca)
		if err != nil {
			return connectors.OptionErrorf("tls_ca", "option \"tls_ca\": %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return connectors.OptionErrorf("tls_ca", "option \"tls_ca\": %s holds no PEM certificate", ca)
		}
		o.TLS.RootCAs = pool
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return connectors.OptionErrorf("tls_cert", "options \"tls_cert\" and \"tls_key\": %v", err)
		}
		o.TLS.Certificates = []tls.Certificate{kp}
	}
	return nil
}

// explainTLS says what a TLS failure means: a certificate no trusted CA
// signed, one for another name, or a plain port spoken to in TLS (and the
// reverse).
func explainTLS(err error, o *clickhouse.Options, opts map[string]any) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case o.TLS != nil && strings.Contains(msg, "certificate signed by unknown authority"):
		what := "the system's certificate authorities"
		if ca, _ := opts["tls_ca"].(string); ca != "" {
			what = "tls_ca " + ca
		}
		return fmt.Errorf("TLS: the server's certificate is not signed by %s (%v)", what, err)
	case o.TLS != nil && o.TLS.ServerName != "" && (strings.Contains(msg, "certificate is valid for") || strings.Contains(msg, "IP SANs")):
		return fmt.Errorf("TLS: the server's certificate does not name tls_server_name %s; give a name it holds (%v)", o.TLS.ServerName, err)
	case o.TLS != nil && (strings.Contains(msg, "certificate is valid for") || strings.Contains(msg, "IP SANs")):
		return fmt.Errorf("TLS: the server's certificate does not name the host of the DSN (%v); connect by a name it holds, or set tls_server_name", err)
	case o.TLS != nil && (strings.Contains(msg, "first record does not look like a TLS handshake") || errors.Is(err, io.EOF)):
		return fmt.Errorf("TLS: the server did not answer in TLS (%v): is the port its secure native port (tcp_port_secure, 9440 by default)?", err)
	case o.TLS != nil && strings.Contains(msg, "remote error: tls: "):
		// A TLS alert from the server: it refused this side of the
		// handshake, the client certificate (its openSSL verificationMode
		// strict or relaxed with a caConfig).
		return fmt.Errorf("TLS: %s (%v)", clientRefused(msg, opts), err)
	}
	return err
}

// clientRefused says why a server answered the handshake with a TLS alert
// (remote error: tls: …): the client certificate it was given, or the one
// it was not.
func clientRefused(msg string, opts map[string]any) string {
	cert, _ := opts["tls_cert"].(string)
	if cert == "" {
		return "the server refused the handshake: it asks for a client certificate, give one as the sink's tls_cert and tls_key"
	}
	why := "the server refused the client certificate tls_cert " + cert
	switch {
	case strings.Contains(msg, "unknown certificate authority"), strings.Contains(msg, "unknown ca"), strings.Contains(msg, "bad certificate"), strings.Contains(msg, "certificate required"):
		// (certificate required: the client did not send it, as the
		// server named the CAs it accepts and none signed it.)
		why += ": it is not signed by a CA the server trusts (its openSSL caConfig)"
	case strings.Contains(msg, "certificate expired"):
		why += ": it has expired"
	}
	return why
}

// tlsReset reports whether err is a TLS connection the server cut at the
// handshake: what a server that refuses the client certificate may do
// before its alert is read (and a server going down: still retried).
func tlsReset(err error, o *clickhouse.Options) bool {
	if err == nil || o.TLS == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "handshake") && strings.Contains(msg, "connection reset by peer")
}

// plainToSecure reports whether err is what a plain connection to a TLS
// port gets: the server closes or resets it at the handshake.
func plainToSecure(err error, o *clickhouse.Options) bool {
	if err == nil || o.TLS != nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "handshake") &&
		(strings.Contains(msg, "connection reset by peer") || strings.Contains(msg, "EOF") || errors.Is(err, io.EOF))
}

var _ connectors.InsecureWarner = (*Sink)(nil)

// InsecureWarnings names skip_verify=true: TLS that accepts any
// certificate, so that whoever is on the network path can pose as the
// server and read the rows and the password.
func (s *Sink) InsecureWarnings() []string {
	if s.chOpts.TLS == nil || !s.chOpts.TLS.InsecureSkipVerify {
		return nil
	}
	return []string{"skip_verify=true: the server's certificate is not verified (anyone on the network path can pose as the server and read the rows and the password); give its CA as the sink's tls_ca option instead"}
}
