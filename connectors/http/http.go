// Package http is the "http" sink: INTO http 'https://hooks.example.com/x'
// POSTs the pipeline's changes to a URL.
//
// Bodies: one POST per batch, or per batch_rows rows when set; batches of
// the JSON formats that waited while a request was in flight share the
// next request (up to batch_rows rows, when set, and 1 MiB), so that a
// pipeline behind its source sends many transactions a round trip. The JSON
// formats (jsonl, the default, canal_json, debezium_json) are sent as one
// JSON array of messages (Content-Type application/json) unless body =
// 'ndjson', which sends one message per line (application/x-ndjson). csv
// bodies carry their own header line; table bodies are plain text.
// Each request carries "Idempotency-Key: <pipeline>:<first>-<last>", the
// range of __version values it holds, so a receiver can drop a redelivery.
//
// Delivery: requests are sent one at a time, in order; batch N+1 is not
// sent before batch N succeeded, unless both share one request. A 2xx
// response acknowledges the batches it carried (done is called after it,
// in order, or after a refusal's rows were handed to OnRefused's handler:
// on_error). Connection errors, timeouts, 408, 429 and 5xx
// are retried with exponential back-off (retry_backoff doubling up to
// retry_backoff_max, honouring Retry-After): for as long as it takes
// unless retry_max is given (an outage is waited for, as a ClickHouse
// sink waits for its server; past RetryWarnings retries each one is
// logged at ERROR), at most retry_max times when it is; any
// other status fails the batch at once, with the response body in the
// error, a 4xx or a redirect not followed (refusedError) as the
// pipeline's own error, which stops that pipeline alone — except that a 413 to a request of several rows
// sends it again in halves (down to single rows), and that under
// on_error = 'skip' or 'dead_letter' (connectors.RowRefuser) a request
// of several rows refused with 400, 409 or 422 is sent again in halves,
// a refused half in halves again (at most bisect_max more requests
// a batch), and the rows the endpoint refuses alone go to the runtime's
// handler while the stream goes on (http_refused.go). After a failure
// every later batch fails too, unsent.
//
// Secrets: header values and the URL's path, query and user info never
// appear in errors (webhook URLs often embed a token).
//
// Signing: with signing_secret, each request (each retry too) carries
// "X-Etlq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>" (Sign), so a receiver can check the body came from
// etlq, unchanged, and recently. tls_ca, tls_cert and tls_key set the CA
// that verifies an https endpoint and a client certificate; a certificate
// that fails verification is not retried.
package http

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
)

// Kind is the sink kind in the language: INTO http 'url'.
const Kind = "http"

// Option defaults the code needs besides the spec's.
const (
	DefaultTimeout = 10 * time.Second
	// RetryWarnings is how many retries of a request are logged at WARN;
	// the later ones, an outage that lasts, at ERROR.
	RetryWarnings = 10
	// DefaultBisectMax is bisect_max's default: it finds 3 refused rows
	// in a batch of 1,000, 4 in one of 256.
	DefaultBisectMax = 64
	// maxRetryAfter caps a server's Retry-After.
	maxRetryAfter = 10 * time.Minute
)

var options = append([]connectors.Option{
	{Name: "headers", Type: connectors.OptString,
		Doc: "extra request headers, 'Name: value' separated by newlines or ';' (e.g. 'Authorization: Bearer ${TOKEN}'); the values of headers named as credentials (Authorization, X-Api-Key, …: docs/security.md) and those from ${…} are hidden from logs and messages, the others are not", Secret: true},
	{Name: "timeout", Type: connectors.OptDuration, Default: "10s", Doc: "per-request timeout"},
	{Name: "batch_rows", Type: connectors.OptInt, Default: int64(0), Doc: "most rows per request (0: no limit); a batch larger is split, and JSON-format batches that wait while a request is in flight go out together in the next one (up to 1 MiB), so that a pipeline behind its source does not send one request per transaction"},
	{Name: "body", Type: connectors.OptString, Default: "array", Enum: []string{"array", "ndjson"},
		Doc: "JSON formats: one JSON array per request, or newline-delimited messages"},
	{Name: "retry_max", Type: connectors.OptInt, Doc: "retries of a request before the batch fails, which stops the run (nothing is lost: the next apply sends it again from the checkpoint); unset, an endpoint that is down or answers 408, 429 or 5xx is retried for as long as it takes, every retry_backoff_max at most, each retry logged (WARN, ERROR after the 10th) and counted in etlq_sink_write_retries_total, while the pipeline's lag grows"},
	{Name: "bisect_max", Type: connectors.OptInt, Default: int64(DefaultBisectMax), Min: 0, Max: 1 << 20,
		Doc: "under on_error = 'skip' or 'dead_letter', the most requests a batch sends again to find the rows of a request the endpoint refused (400, 409, 422) that it refuses alone (sent again in halves, a refused half in halves again; k refused rows among N take at most 2·k·⌈log2 N⌉); past it a refused request's rows are set aside together, good rows among them, their reason saying so, and a WARN at the batch's end counts them (rows_not_refused_alone); 0 sends nothing again"},
	{Name: "retry_backoff", Type: connectors.OptDuration, Default: "200ms", Doc: "first retry delay; doubles each retry"},
	{Name: "retry_backoff_max", Type: connectors.OptDuration, Default: "30s", Doc: "longest retry delay"},
}, securityOptions...)

// Spec describes the http sink. Its options may be given on CREATE SINK or
// in a pipeline's WITH clause (which wins).
var Spec = connectors.Spec{
	Kind: Kind,
	Doc: "POSTs changes to a URL (a webhook, a serverless function) as jsonl, canal_json, " +
		"debezium_json, csv or table, in order, retrying connection errors, 429 and 5xx; " +
		"follows 307 and 308 redirects (to another host without the credential headers, those from ${…} and the signature; never with a Referer; one from https to plain http is not followed and fails the batch), and fails the batch on a 301, 302 or 303 (which would resend it as a GET " +
		"without its body: the pipeline's own error, as for a 404, whatever on_error says) or any other status. A request of several rows refused with 413 is sent again in halves, down to single rows. " +
		"The rows of a request refused with 400, 409, 413 (a single row) or 422 follow the pipeline's on_error: under 'skip' and 'dead_letter' a request of several rows " +
		"refused with 400, 409 or 422 is first sent again in halves, a refused half in halves again, so that only the rows the endpoint refuses alone " +
		"are set aside and the others reach it once, in order (at most bisect_max more requests a batch, 64 by default: past that, a refused request's rows are set aside " +
		"together, their reason saying so, and a WARN at the batch's end counts them); 'skip' drops and counts them " +
		"(a WARN names the status and how many), 'dead_letter' keeps them as dead letters whose reason is the status and the endpoint's answer " +
		"(its first 512 bytes), and the stream goes on; under 'fail' (the default), and for any other 4xx (401, 403, 404, 415, …: the endpoint " +
		"or the pipeline's URL, credentials or FORMAT is wrong, every row would be refused) whatever on_error says, the refusal is the pipeline's " +
		"own error: that pipeline stops alone, the others of its source go on (docs/live-tables.md, One failing pipeline). " +
		"Each request of changes carries `Idempotency-Key: <pipeline>:<first>-<last>`, the `_version` of its first and last row (canal_json's `id` is the first): " +
		"a retry sends the same key; after a restart the rows from the checkpoint on are sent again with the same `_version`s but may be grouped in other requests, " +
		"so a receiver that drops redeliveries compares the ranges (or each row), not the keys' text alone.",
	Options:       options,
	TargetOptions: options,
	CheckTarget:   checkURL,
}

// checkURL refuses a target that is no http(s) URL, as config does.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("http sink: %s is not an http(s) URL", redact(raw))
	}
	return nil
}

func init() {
	connectors.RegisterSink(Spec, func(name, dsn string, opts map[string]any) (connectors.Sink, error) {
		return New(dsn, opts), nil
	})
}

// config is a target's resolved settings.
type config struct {
	url             *url.URL
	format          string
	headers         [][2]string
	timeout         time.Duration
	batchRows       int
	ndjson          bool
	retryMax        int // -1: no limit (retry_max not given)
	bisectMax       int // bisect_max
	retryBackoff    time.Duration
	retryBackoffMax time.Duration
	security
}

func (s *Sink) config(t connectors.Target) (*config, error) {
	raw := t.Name
	if raw == "" {
		raw = s.url
	}
	if raw == "" {
		return nil, errors.New("http sink needs a URL: INTO http 'https://…'")
	}
	if err := checkURL(raw); err != nil {
		return nil, err
	}
	u, _ := url.Parse(raw)
	c := &config{url: u, format: strings.ToLower(t.Format)}
	if c.format == "" {
		c.format = format.JSONL
	}
	if c.format == format.Parquet {
		return nil, errors.New("http sink cannot send parquet (use jsonl, canal_json, debezium_json, csv or table)")
	}
	if !format.Valid(c.format) {
		return nil, fmt.Errorf("unknown format %q (want one of %s)", c.format, strings.Join(format.StreamNames(), ", "))
	}
	// The pipeline's WITH over the sink's over the defaults.
	opts, err := connectors.ParseOptions(options, t.Options, s.opts)
	if err != nil {
		return nil, err
	}
	if c.headers, err = parseHeaders(opts.String("headers")); err != nil {
		return nil, err
	}
	for _, h := range c.headers {
		// The value of a header named as a credential (credentialHeader)
		// is a secret; a plain one ('X-Team: notify') is not: registered
		// too, it masked the word wherever a log line had it (a path
		// /tmp/trial-notify/… printed as /tmp/trial-****/…). A part of a
		// value from ${NAME} or ${file:PATH} is hidden by the planner.
		if !credentialHeader.MatchString(h[0]) {
			continue
		}
		connectors.RegisterSecret(h[1])
		// "Bearer <token>", "Basic <credentials>": the credentials alone
		// are what an endpoint quotes back.
		if scheme, cred, ok := strings.Cut(strings.TrimSpace(h[1]), " "); ok && scheme != "" && !strings.Contains(scheme, ",") {
			connectors.RegisterSecret(strings.TrimSpace(cred))
		}
	}
	connectors.RegisterURLSecrets(u)
	if err := c.resolveSecurity(opts); err != nil {
		return nil, err
	}
	c.ndjson = opts.String("body") == "ndjson"
	c.timeout = opts.Duration("timeout")
	c.batchRows, c.retryMax = int(opts.Int("batch_rows")), int(opts.Int("retry_max"))
	c.bisectMax = int(opts.Int("bisect_max"))
	c.retryBackoff, c.retryBackoffMax = opts.Duration("retry_backoff"), opts.Duration("retry_backoff_max")
	if c.batchRows < 0 || c.retryMax < 0 {
		return nil, errors.New("options \"batch_rows\" and \"retry_max\" cannot be negative")
	}
	if !opts.Given("retry_max") {
		c.retryMax = -1 // for as long as it takes
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// parseHeaders parses "Name: value" lines, separated by newlines, or by ';'
// when there is no newline. Values are never put in errors.
func parseHeaders(s string) ([][2]string, error) {
	var parts []string
	if strings.Contains(s, "\n") {
		parts = strings.Split(s, "\n")
	} else {
		parts = strings.Split(s, ";")
	}
	var out [][2]string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, value, ok := strings.Cut(p, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r") {
			return nil, fmt.Errorf("option \"headers\": want 'Name: value', got a header without a name and colon (%d characters)", len(p))
		}
		out = append(out, [2]string{name, strings.TrimSpace(value)})
	}
	return out, nil
}

// redact returns a URL without user info, path or query: those often hold
// secrets.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the URL"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "/…"
	}
	return out
}
