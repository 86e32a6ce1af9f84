package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// The TLS test servers (scripts/services up mariadb-tls clickhouse-tls) and
// the certificates scripts/services made for them.
const (
	EnvMySQLTLSDSN      = "ETLQ_TEST_MYSQL_TLS_DSN"
	EnvClickHouseTLSDSN = "ETLQ_TEST_CLICKHOUSE_TLS_DSN"
	EnvTLSCerts         = "ETLQ_TEST_TLS_CERTS"

	DefaultMySQLTLSDSN      = "mysql://root@localhost:3318"
	DefaultClickHouseTLSDSN = "clickhouse://localhost:19440?secure=true"
)

// TLSFiles are the PEM files scripts/services makes under
// $ETLQ_SCRATCH/certs: a CA, a server certificate for "localhost" only
// (not 127.0.0.1) signed by it, a client certificate signed by it, and a
// CA that signed nothing here.
type TLSFiles struct {
	Dir                   string
	CA, WrongCA           string
	ClientCert, ClientKey string
}

// TLSCerts returns the test certificates, failing (CI=true) or skipping the
// test when they are missing.
func TLSCerts(t testing.TB) TLSFiles {
	t.Helper()
	dir := os.Getenv(EnvTLSCerts)
	if dir == "" {
		dir = defaultCertsDir()
	}
	f := TLSFiles{Dir: dir, CA: filepath.Join(dir, "ca.pem"), WrongCA: filepath.Join(dir, "wrong-ca.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem")}
	for _, p := range []string{f.CA, f.WrongCA, f.ClientCert, f.ClientKey} {
		if _, err := os.Stat(p); err != nil {
			unavailable(t, "tls certificates", dir, fmt.Errorf("%v (scripts/services up mariadb-tls makes them)", err))
		}
	}
	return f
}

// defaultCertsDir is <module root>/.scratch/certs, found from the working
// directory (a package directory while tests run).
func defaultCertsDir() string {
	d, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, ".scratch", "certs")
		}
		p := filepath.Dir(d)
		if p == d {
			return ".scratch/certs"
		}
		d = p
	}
}

// MySQLTLSDSN returns the DSN of the MariaDB with a certificate (as MariaDB
// A otherwise), by the name its certificate holds (localhost), after
// checking that it answers. root may connect without TLS.
func MySQLTLSDSN(t testing.TB) string {
	t.Helper()
	return require(t, "mysql (tls)", env(EnvMySQLTLSDSN, DefaultMySQLTLSDSN), checkMySQL)
}

// ClickHouseTLSDSN returns the DSN of the ClickHouse with a secure native
// port (clickhouse://localhost:19440?secure=true), after checking that it
// answers over TLS with the test CA.
func ClickHouseTLSDSN(t testing.TB) string {
	t.Helper()
	certs := TLSCerts(t)
	return require(t, "clickhouse (tls)", env(EnvClickHouseTLSDSN, DefaultClickHouseTLSDSN), func(dsn string) error {
		o, err := clickhouse.ParseDSN(dsn)
		if err != nil {
			return err
		}
		pem, err := os.ReadFile(certs.CA)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		o.TLS = &tls.Config{RootCAs: pool, ServerName: "localhost"}
		o.DialTimeout = checkTimeout
		conn, err := clickhouse.Open(o)
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		defer cancel()
		return conn.Ping(ctx)
	})
}

// WriteSelfSignedClient writes to cert and key a client certificate that no
// CA signed, and its key: a server that verifies its clients against a CA
// refuses it.
func WriteSelfSignedClient(t testing.TB, cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "stranger"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}
