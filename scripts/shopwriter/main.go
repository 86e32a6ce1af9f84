// Command shopwriter creates the demo shop database (shopdb: customers,
// orders, order_items) in MySQL/MariaDB, seeds it, then keeps writing random
// inserts, updates and deletes at a steady rate, so that etlq has a live
// change stream to follow. It prints a one-line summary every few seconds.
//
//	go run ./scripts/shopwriter -seed 10000 -rate 200 -duration 0
//
// -rate 0 seeds and exits; -duration 0 writes until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	dsn      string
	db       string
	seed     int
	rate     float64
	duration time.Duration
	report   time.Duration
	reset    bool
	randSeed int64
}

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", envOr("ETLQ_DEMO_MYSQL_DSN", envOr("ETLQ_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3316")), "MySQL/MariaDB DSN mysql://user:password@host:port")
	flag.StringVar(&c.db, "db", "shopdb", "database to create and write")
	flag.IntVar(&c.seed, "seed", 10000, "orders to seed when the orders table is empty (customers: a tenth, items: 1-3 per order)")
	flag.Float64Var(&c.rate, "rate", 200, "change operations per second after seeding; 0 seeds and exits")
	flag.DurationVar(&c.duration, "duration", 0, "how long to write changes; 0 is until interrupted")
	flag.DurationVar(&c.report, "report", 5*time.Second, "summary interval")
	flag.BoolVar(&c.reset, "reset", false, "drop the database first")
	flag.Int64Var(&c.randSeed, "rand", 0, "random seed; 0 picks one from the clock")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "shopwriter: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "shopwriter: %v\n", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dsnParts parses mysql://user:password@host:port into what go-mysql's
// client.Connect takes.
type dsnParts struct{ addr, user, password string }

func parseDSN(dsn string) (dsnParts, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsnParts{}, fmt.Errorf("invalid dsn: %w", err)
	}
	if u.Scheme != "mysql" || u.Hostname() == "" {
		return dsnParts{}, errors.New(`invalid dsn: want "mysql://user:password@host:port"`)
	}
	p := dsnParts{user: "root"}
	if u.User != nil {
		if n := u.User.Username(); n != "" {
			p.user = n
		}
		p.password, _ = u.User.Password()
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	p.addr = net.JoinHostPort(u.Hostname(), port)
	return p, nil
}

// run creates and seeds the database, then writes changes until ctx ends or
// c.duration passes.
func run(ctx context.Context, c config, out io.Writer) error {
	if strings.ContainsAny(c.db, "`.' ") || c.db == "" {
		return fmt.Errorf("invalid database name %q", c.db)
	}
	p, err := parseDSN(c.dsn)
	if err != nil {
		return err
	}
	if c.randSeed == 0 {
		c.randSeed = time.Now().UnixNano()
	}
	w, err := newWriter(p, c.db, c.randSeed)
	if err != nil {
		return err
	}
	defer w.close()
	if err := w.createSchema(c.reset); err != nil {
		return err
	}
	seeded, err := w.seed(c.seed)
	if err != nil {
		return err
	}
	if seeded > 0 {
		fmt.Fprintf(out, "shopwriter: seeded %s with %d customers, %d orders, %d order items\n",
			c.db, w.stats.customers, seeded, w.stats.items)
	} else {
		fmt.Fprintf(out, "shopwriter: %s already has orders, not seeding\n", c.db)
	}
	if c.rate <= 0 {
		return nil
	}
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	return w.loop(ctx, c.rate, c.report, out)
}
