package http

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
)

// TestConnErrorNamesTheTLSAlert: a server's TLS alert that net/http's read
// loop met after the handshake comes wrapped in its own words; the error
// names the alert, as when the handshake itself got it (the flaky
// "no client certificate" case of TestHTTPSCustomCAAndClientCertificate).
func TestConnErrorNamesTheTLSAlert(t *testing.T) {
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}
	for _, err := range []error{
		&url.Error{Op: "Post", URL: "https://h/x", Err: alert},
		&url.Error{Op: "Post", URL: "https://h/x", Err: fmt.Errorf("readLoopPeekFailLocked: %w", alert)},
	} {
		if got, want := connError(err), "remote error: tls: certificate required"; got != want {
			t.Errorf("connError(%v) = %q, want %q", err, got, want)
		}
	}
}
