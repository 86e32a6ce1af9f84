// Command etlq captures MySQL/MariaDB changes, transforms them and loads
// them into ClickHouse and other targets, as described by .etl files.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"

	_ "github.com/etlq/etlq/connectors/all"
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

type cli struct {
	Apply   applyCmd      `cmd:"" help:"Run the pipelines of a file: snapshot, then follow the binlog."`
	Capture captureCmd    `cmd:"" help:"Publish the sources of a file to a NATS JetStream log for apply --log workers (docs/scale-out.md)."`
	Status  statusCmd     `cmd:"" help:"Show a state directory: lock owner, each source's checkpoint and lag, each pipeline's checkpoint (with --log: a log's partitions, docs/scale-out.md)."`
	Check   checkCmd      `cmd:"" help:"Parse, resolve against live schemas and type-check a file."`
	Plan    planCmd       `cmd:"" help:"Show the dataflow of each pipeline and the DDL apply would run."`
	Fmt     fmtCmd        `cmd:"" help:"Print a file in canonical layout (-w rewrites it)."`
	Repl    replCmd       `cmd:"" help:"Explore sources and their live change streams interactively."`
	Record  recordCmd     `cmd:"" help:"Capture a table's binlog changes, with its schema, as a fixture for etlq test."`
	Test    testCmd       `cmd:"" help:"Run the pipelines of a file over fixtures and compare their output, without servers."`
	DL      dlCmd         `cmd:"" name:"deadletter" help:"Dead letters: replay them through their pipeline."`
	Verify  verifyCmd     `cmd:"" help:"Compare each upsert (and changelog) pipeline's target with its source; --repair fixes what differs."`
	Resnap  resnapshotCmd `cmd:"" name:"resnapshot" help:"Make the running apply (or the next one) read a table, or the rows a WHERE selects, again for one pipeline."`
	Version versionCmd    `cmd:"" help:"Print the version."`
}

// exitError carries an exit code without another message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	connectors.Version = version
	var c cli
	kctx := kong.Parse(&c,
		kong.Name("etlq"),
		kong.Description("Change data capture from MySQL/MariaDB into ClickHouse, in one binary and one small language."),
		kong.UsageOnError(),
	)
	// The log's URL and the REPL's and record's DSN are given on the
	// command line, not in a file: their ${NAME} and ${file:PATH} are
	// expanded here, as in a file (single-quoted, the secret stays out of
	// argv and the shell's history), and their password is a secret as a
	// DSN's is (never printed, docs/security.md).
	for _, f := range []struct {
		flag string
		v    *string
	}{
		{"--log", &c.Apply.Log}, {"--log", &c.Capture.Log}, {"--log", &c.Status.Log}, {"--log", &c.Verify.Log},
		{"--log", &c.Resnap.Log}, {"--source", &c.Repl.Source}, {"--source", &c.Record.Source},
	} {
		v, err := lang.ExpandURL(*f.v, lang.Expansion{Lookup: os.LookupEnv, Secret: connectors.RegisterSecret})
		if err != nil {
			fmt.Fprintf(os.Stderr, "etlq: %s: %s\n", f.flag, err)
			os.Exit(1)
		}
		*f.v = v
		registerURLSecret(v)
	}
	// SIGHUP (the terminal or session that started etlq closed, a kill
	// -HUP) stops as SIGTERM does, draining: Go's default ended the
	// process at once, with nothing in the log.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	// What a connector logs (a source's warning) is written as apply
	// writes it, by every command, never with a secret: the commands that
	// set no logger of their own (check, plan, status, verify, …) wrote
	// Go's default "2026/12/06 23:44:36 WARN …" lines, unredacted.
	slog.SetDefault(slog.New(textHandler(connectors.RedactingWriter(os.Stderr))))
	err := kctx.Run()
	if err == nil {
		return
	}
	var ee exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	fmt.Fprintf(os.Stderr, "etlq: %s\n", connectors.RedactSecrets(err.Error()))
	os.Exit(1)
}

// registerURLSecret registers the password of a URL (nats://user:pw@host)
// as a secret, so that RedactSecrets hides it wherever it is printed.
func registerURLSecret(raw string) {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			connectors.RegisterSecret(pw)
		}
	}
}

type versionCmd struct{}

func (versionCmd) Run() error {
	info, _ := debug.ReadBuildInfo()
	fmt.Println(versionText(version, info))
	return nil
}

// versionText is what etlq version prints: the version the build set, or,
// for a build from a checkout ("dev"), the commit go build recorded, its
// time and whether the tree had changes.
func versionText(version string, info *debug.BuildInfo) string {
	text := "etlq " + version
	if version != "dev" || info == nil {
		return text
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return text
	}
	parts := []string{"git " + rev[:min(12, len(rev))]}
	if at != "" {
		parts = append(parts, at)
	}
	if modified {
		parts = append(parts, "modified")
	}
	return text + " (" + strings.Join(parts, ", ") + ")"
}
