package testenv

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"
)

// Environment variable holding the NATS (JetStream) test server's URL, and
// its default: the nats-server -js that scripts/services starts.
const (
	EnvNATSURL     = "ETLQ_TEST_NATS_URL"
	DefaultNATSURL = "nats://127.0.0.1:14222"
)

// NATSURL returns the URL of the project's own nats-server (JetStream on)
// after checking that it accepts connections and speaks NATS.
func NATSURL(t testing.TB) string {
	t.Helper()
	return require(t, "nats", env(EnvNATSURL, DefaultNATSURL), checkNATS)
}

// checkNATS dials the server and reads its INFO line; it does not link the
// NATS client, so packages that only need the URL stay light.
func checkNATS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	if _, err := c.Read(buf); err != nil {
		return err
	}
	if string(buf) != "INFO" {
		return fmt.Errorf("%s does not speak NATS (got %q)", u.Host, buf)
	}
	return nil
}
