package http_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	etlqhttp "github.com/etlq/etlq/connectors/http"
)

// verifySignature is what a receiving function does with the documented
// scheme (docs/security.md), written here from the documentation rather
// than from etlq's code: parse "t=<unix>,v1=<hex>", refuse a t more than
// tolerance away from now, recompute HMAC-SHA256(secret, t + "." + body)
// and compare in constant time.
func verifySignature(header string, body, secret []byte, now time.Time, tolerance time.Duration) string {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return "malformed signature header"
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return "timestamp outside the tolerance (a replay?)"
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "signature mismatch"
	}
	return ""
}

// TestSignedWebhook: with signing_secret, every request carries a
// signature the receiver verifies over the exact body; a tampered body, a
// wrong secret and an old timestamp are refused by the same check.
func TestSignedWebhook(t *testing.T) {
	secret := []byte("whsec-Zq81kX")
	var mu sync.Mutex
	var verified []string
	var sigs []string
	var bodies [][]byte
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, _ := io.ReadAll(r.Body)
		h := r.Header.Get("X-Etlq-Signature")
		res := verifySignature(h, body, secret, time.Now(), 5*time.Minute)
		mu.Lock()
		verified = append(verified, res)
		sigs = append(sigs, h)
		bodies = append(bodies, body)
		mu.Unlock()
		if res != "" {
			nethttp.Error(w, res, nethttp.StatusUnauthorized)
			return
		}
		w.WriteHeader(nethttp.StatusNoContent)
	}))
	defer srv.Close()
	h := openURL(t, srv.URL+"/hook", map[string]any{"signing_secret": string(secret)}, nil)
	if err := wait(t, h.write(1, 2)); err != nil {
		t.Fatalf("a signed request was refused: %v", err)
	}
	if err := wait(t, h.write(3)); err != nil {
		t.Fatalf("a signed request was refused: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(verified) != 2 || verified[0] != "" || verified[1] != "" {
		t.Fatalf("receiver's verdicts %q", verified)
	}
	// The same check refuses what it must.
	if v := verifySignature(sigs[0], append([]byte(" "), bodies[0]...), secret, time.Now(), 5*time.Minute); v != "signature mismatch" {
		t.Errorf("a tampered body: %q", v)
	}
	if v := verifySignature(sigs[0], bodies[0], []byte("other"), time.Now(), 5*time.Minute); v != "signature mismatch" {
		t.Errorf("a wrong secret: %q", v)
	}
	if v := verifySignature(sigs[0], bodies[0], secret, time.Now().Add(10*time.Minute), 5*time.Minute); !strings.Contains(v, "replay") {
		t.Errorf("an old request: %q", v)
	}
	if got := etlqhttp.Sign(secret, bodies[1], time.Now()); verifySignature(got, bodies[1], secret, time.Now(), time.Minute) != "" {
		t.Errorf("Sign does not match the documented scheme: %s", got)
	}
}

// openURL opens an http writer on url with options and an optional client.
func openURL(t *testing.T, url string, opts map[string]any, c *nethttp.Client) *harness {
	t.Helper()
	h := &harness{t: t, mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	if opts == nil {
		opts = map[string]any{}
	}
	if _, ok := opts["retry_backoff"]; !ok {
		opts["retry_backoff"] = "1ms"
	}
	s := etlqhttp.New("", nil)
	if c != nil {
		s.WithClient(c)
	}
	w, err := s.Open(context.Background(), connectors.Target{Name: url, Schema: schema, Pipeline: "p", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	t.Cleanup(func() {
		h.w.Close()
		h.mem.AssertSize(t, 0)
	})
	return h
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, and a second CA that signed nothing, written as PEM files.
type testPKI struct {
	caPool                      *x509.CertPool
	server                      tls.Certificate
	ca, wrongCA, cert, key, dir string
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{dir: dir}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	mkCert := func(tmpl *x509.Certificate, parent *x509.Certificate, pub, signer any) (*x509.Certificate, []byte) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, der
	}
	caKey := newKey()
	caCert, caDER := mkCert(&x509.Certificate{Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, &caKey.PublicKey, caKey)
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(caCert)
	wrongKey := newKey()
	_, wrongDER := mkCert(&x509.Certificate{Subject: pkix.Name{CommonName: "wrong CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, &wrongKey.PublicKey, wrongKey)
	p.wrongCA = write("wrong-ca.pem", "CERTIFICATE", wrongDER)
	srvKey := newKey()
	_, srvDER := mkCert(&x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, caCert, &srvKey.PublicKey, caKey)
	p.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	cliKey := newKey()
	_, cliDER := mkCert(&x509.Certificate{Subject: pkix.Name{CommonName: "etlq-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, caCert, &cliKey.PublicKey, caKey)
	p.cert = write("client.pem", "CERTIFICATE", cliDER)
	kder, err := x509.MarshalECPrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	p.key = write("client-key.pem", "EC PRIVATE KEY", kder)
	return p
}

// TestHTTPSCustomCAAndClientCertificate posts to an https endpoint whose
// certificate a private CA signed and which requires a client certificate:
// tls_ca and tls_cert/tls_key make it work; without the client
// certificate, with a wrong CA or with the system's CAs the batch fails
// with an error that says TLS, and a certificate that does not verify is
// not retried.
func TestHTTPSCustomCAAndClientCertificate(t *testing.T) {
	p := newPKI(t)
	var mu sync.Mutex
	var clients []string
	srv := httptest.NewUnstartedServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		mu.Lock()
		for _, c := range r.TLS.PeerCertificates {
			clients = append(clients, c.Subject.CommonName)
		}
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(nethttp.StatusNoContent)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	url := srv.URL + "/hook/tok"

	h := openURL(t, url, map[string]any{"tls_ca": p.ca, "tls_cert": p.cert, "tls_key": p.key}, nil)
	if err := wait(t, h.write(1)); err != nil {
		t.Fatalf("with the CA and a client certificate: %v", err)
	}
	mu.Lock()
	if len(clients) != 1 || clients[0] != "etlq-client" {
		t.Errorf("the endpoint saw client certificates %q", clients)
	}
	mu.Unlock()

	// The certificate errors say what is wrong and what to do, as the
	// MySQL source's and ClickHouse sink's do; before, the raw x509 text
	// alone (trial-trust). A plain http port reached by an https:// URL
	// was retried for good: retrying cannot help it either.
	plain := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {}))
	defer plain.Close()
	for _, tc := range []struct {
		name, url string
		opts      map[string]any
		want      string
	}{
		{"no client certificate", url, map[string]any{"tls_ca": p.ca}, "TLS: remote error: tls: certificate required"},
		{"wrong CA", url, map[string]any{"tls_ca": p.wrongCA, "tls_cert": p.cert, "tls_key": p.key}, "TLS: the endpoint's certificate is not signed by tls_ca " + p.wrongCA + " (tls: failed to verify certificate: x509: certificate signed by unknown authority)"},
		{"system CAs", url, map[string]any{"tls_cert": p.cert, "tls_key": p.key}, "TLS: the endpoint's certificate is not signed by the system's certificate authorities (tls: failed to verify certificate"},
		{"wrong host", strings.Replace(url, "127.0.0.1", "localhost", 1), map[string]any{"tls_ca": p.ca, "tls_cert": p.cert, "tls_key": p.key}, "TLS: the endpoint's certificate does not name the URL's host (tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match localhost); use a name it holds in the URL"},
		{"plain port", strings.Replace(plain.URL, "http://", "https://", 1) + "/hook/tok", nil, "TLS: the endpoint did not answer in TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := openURL(t, tc.url, tc.opts, nil)
			start := time.Now()
			err := wait(t, h.write(1))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "/hook/tok") {
				t.Errorf("the error shows the URL's path: %v", err)
			}
			if strings.Contains(err.Error(), "retries") {
				t.Errorf("a certificate error was retried: %v (after %v)", err, time.Since(start))
			}
		})
	}
	for opts, want := range map[*map[string]any]string{
		{"tls_ca": "/nonexistent/ca.pem"}: "open /nonexistent/ca.pem",
		{"tls_cert": p.cert}:              "go together",
		{"tls_ca": filepath.Join(p.dir)}:  "tls_ca",
		{"signature_header": ""}:          "cannot be empty",
		{"tls_ca": p.ca, "timeout": "1s"}: "",
		{"signing_secret": "abc"}:         "",
	} {
		_, _, err := etlqhttp.New("", nil).Plan(context.Background(), connectors.Target{Name: url, Schema: schema, Pipeline: "p", Options: *opts})
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%v: %v, want an error with %q", *opts, err, want)
		}
	}
	_, _, err := etlqhttp.New("", nil).Plan(context.Background(), connectors.Target{Name: "http://127.0.0.1:1/x", Schema: schema, Pipeline: "p", Options: map[string]any{"tls_ca": p.ca}})
	if err == nil || !strings.Contains(err.Error(), "need an https URL") {
		t.Errorf("tls_ca on http://: %v", err)
	}
}

// TestEchoedCredentialsRedacted: an endpoint that refuses a request and
// quotes the credentials it got back in its body ("invalid token=…"):
// the error etlq prints (RedactSecrets, as main and the logs do) showed
// the URL's ?token= value and the bearer token of the Authorization
// header verbatim (new-user trial). docs/security.md says URL credential
// parameters and header values are never printed.
func TestEchoedCredentialsRedacted(t *testing.T) {
	const tok, bearer = "Echo-Url-T0ken-71", "Echo-Bearer-T0ken-93"
	rec := &recorder{respond: func(n int, w nethttp.ResponseWriter) bool {
		nethttp.Error(w, "invalid token="+tok+" for bearer "+bearer, nethttp.StatusBadRequest)
		return true
	}}
	h := open(t, rec, connectors.Target{Options: map[string]any{
		"headers": "Authorization: Bearer " + bearer, "retry_max": int64(0)}})
	h.w.Close()
	srv := h.srv
	w, err := etlqhttp.New("", nil).Open(context.Background(), connectors.Target{Name: srv.URL + "/hook?token=" + tok, Schema: schema, Pipeline: "p",
		Options: map[string]any{"headers": "Authorization: Bearer " + bearer, "retry_max": int64(0), "retry_backoff": "1ms"}})
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	err = wait(t, h.write(1))
	if err == nil {
		t.Fatal("a 400 was taken as success")
	}
	msg := connectors.RedactSecrets(err.Error())
	if !strings.Contains(msg, "invalid token=") || strings.Contains(msg, tok) || strings.Contains(msg, bearer) {
		t.Errorf("the error shows a credential the endpoint echoed: %s", msg)
	}
}

// TestOnlyCredentialHeadersSecret: the value of a header named as a
// credential (Authorization, X-Api-Key, …) is hidden from every message,
// as the credential of 'Bearer …' alone; a plain header's value is not a
// secret: with every header value hidden, 'X-Team: notify' made every log
// line mask the word, the trial's paths printed as /tmp/trial-****/…
func TestOnlyCredentialHeadersSecret(t *testing.T) {
	const team, key, bearer = "notifyq7x", "apik3y-q7x", "b34rer-q7x"
	h := open(t, &recorder{}, connectors.Target{Options: map[string]any{
		"headers": "X-Team: " + team + "; X-Api-Key: " + key + "; Authorization: Bearer " + bearer}})
	if err := wait(t, h.write(1)); err != nil {
		t.Fatal(err)
	}
	const path = "/tmp/trial-" + team + "/run6.log"
	if got := connectors.RedactSecrets("file=" + path); got != "file="+path {
		t.Errorf("a plain header's value masks unrelated text: %q", got)
	}
	msg := connectors.RedactSecrets("the endpoint said: key " + key + ", token " + bearer)
	if strings.Contains(msg, key) || strings.Contains(msg, bearer) {
		t.Errorf("a credential header's value is shown: %q", msg)
	}
}

// TestRedirectFromHTTPSToPlainRefused: a 307 from the https endpoint to a
// plain http URL was followed, the rows and the credential headers sent in
// clear (a security trial). It is not followed: the batch fails, naming
// the redirect.
func TestRedirectFromHTTPSToPlainRefused(t *testing.T) {
	p := newPKI(t)
	var plainGot atomic.Int32
	plain := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		plainGot.Add(1)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(nethttp.StatusNoContent)
	}))
	defer plain.Close()
	srv := httptest.NewUnstartedServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", plain.URL+"/hook")
		w.WriteHeader(nethttp.StatusTemporaryRedirect)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	h := openURL(t, srv.URL+"/hook", map[string]any{"tls_ca": p.ca, "headers": "Authorization: Bearer tok-9"}, nil)
	err := wait(t, h.write(1))
	if err == nil || !strings.Contains(err.Error(), "plain http, which would send the rows and the credentials in clear") {
		t.Fatalf("%v, want the https-to-http redirect refused", err)
	}
	if n := plainGot.Load(); n != 0 {
		t.Fatalf("the plain http endpoint received %d requests", n)
	}
}
