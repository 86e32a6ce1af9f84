package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// stats counts what the writer did: operations (one random change, possibly
// a transaction over several rows) and rows changed.
type stats struct {
	ops                            int
	inserts, updates, deletes, txs int
	customers, items               int
}

func (s stats) rows() int { return s.inserts + s.updates + s.deletes }

// writer owns one connection and the random source.
type writer struct {
	conn        *client.Conn
	db          string
	rng         *rand.Rand
	maxOrder    uint64
	maxCustomer uint64
	stats       stats
}

var (
	countries = []string{"DE", "FR", "BR", "US", "JP", "IN", "NL", "PL", "ES", "IT"}
	firstName = []string{"Ada", "Grace", "Linus", "Ken", "Barbara", "Edsger", "Margaret", "Donald", "Frances", "Dennis", "Radia", "João", "Zoë", "Łukasz"}
	lastName  = []string{"Lovelace", "Hopper", "Torvalds", "Thompson", "Liskov", "Dijkstra", "Hamilton", "Knuth", "Allen", "Ritchie", "Perlman", "O'Brien", "Müller"}
	channels  = []string{"web", "app", "store", "phone"}
	skus      = []string{"SKU-book-001", "SKU-book-002", "SKU-mug-black", "SKU-mug-white", "SKU-shirt-s", "SKU-shirt-m", "SKU-shirt-l", "SKU-sticker", "SKU-poster", "SKU-pen"}
)

const timeLayout = "2006-01-02 15:04:05.000000"

func newWriter(p dsnParts, db string, seed int64) (*writer, error) {
	conn, err := client.Connect(p.addr, p.user, p.password, "")
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.addr, err)
	}
	return &writer{conn: conn, db: db, rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}, nil
}

func (w *writer) close() { w.conn.Close() }

func (w *writer) exec(sql ...string) (*mysql.Result, error) {
	var last *mysql.Result
	for _, s := range sql {
		r, err := w.conn.Execute(s)
		if err != nil {
			return nil, fmt.Errorf("%w\nstatement: %.300s", err, s)
		}
		last = r
	}
	return last, nil
}

// tx runs statements in one transaction.
func (w *writer) tx(sql ...string) error {
	if err := w.conn.Begin(); err != nil {
		return err
	}
	if _, err := w.exec(sql...); err != nil {
		w.conn.Rollback()
		return err
	}
	w.stats.txs++
	return w.conn.Commit()
}

func (w *writer) createSchema(reset bool) error {
	q := "`" + w.db + "`"
	var sql []string
	if reset {
		sql = append(sql, "DROP DATABASE IF EXISTS "+q)
	}
	sql = append(sql,
		"CREATE DATABASE IF NOT EXISTS "+q,
		`CREATE TABLE IF NOT EXISTS `+q+`.customers (
			id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
			name VARCHAR(100) NOT NULL,
			email VARCHAR(255) NOT NULL,
			country CHAR(2) NOT NULL,
			created_at DATETIME(6) NOT NULL,
			UNIQUE KEY email (email)
		)`,
		`CREATE TABLE IF NOT EXISTS `+q+`.orders (
			id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
			customer VARCHAR(64) NOT NULL,
			status ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new',
			amount DECIMAL(12,2) NOT NULL,
			created_at DATETIME(6) NOT NULL,
			note JSON NULL,
			KEY customer (customer),
			KEY status (status)
		)`,
		`CREATE TABLE IF NOT EXISTS `+q+`.order_items (
			id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
			order_id BIGINT UNSIGNED NOT NULL,
			sku VARCHAR(32) NOT NULL,
			qty SMALLINT UNSIGNED NOT NULL,
			price DECIMAL(10,2) NOT NULL,
			KEY order_id (order_id)
		)`,
	)
	if _, err := w.exec(sql...); err != nil {
		return err
	}
	return w.loadMax()
}

func (w *writer) loadMax() error {
	r, err := w.exec("SELECT COALESCE(MAX(id), 0) FROM `" + w.db + "`.orders")
	if err != nil {
		return err
	}
	w.maxOrder, _ = r.GetUint(0, 0)
	r, err = w.exec("SELECT COALESCE(MAX(id), 0) FROM `" + w.db + "`.customers")
	if err != nil {
		return err
	}
	w.maxCustomer, _ = r.GetUint(0, 0)
	return nil
}

func quote(s string) string { return "'" + mysql.Escape(s) + "'" }

func money(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

func email(id uint64) string { return fmt.Sprintf("c%06d@shop.example", id) }

// randomTime is a moment in the last 90 days, with microseconds.
func (w *writer) randomTime() string {
	back := time.Duration(w.rng.Int64N(int64(90 * 24 * time.Hour / time.Microsecond)))
	return time.Now().UTC().Add(-back * time.Microsecond).Format(timeLayout)
}

func (w *writer) customerRow(id uint64, at string) string {
	name := firstName[w.rng.IntN(len(firstName))] + " " + lastName[w.rng.IntN(len(lastName))]
	return fmt.Sprintf("(%d, %s, %s, %s, '%s')", id, quote(name), quote(email(id)),
		quote(countries[w.rng.IntN(len(countries))]), at)
}

func (w *writer) note() string {
	if w.rng.IntN(5) == 0 {
		return "NULL"
	}
	n := fmt.Sprintf(`{"channel": "%s", "gift": %v`, channels[w.rng.IntN(len(channels))], w.rng.IntN(10) == 0)
	if w.rng.IntN(4) == 0 {
		n += fmt.Sprintf(`, "coupon": "SAVE%d"`, 5*(1+w.rng.IntN(4)))
	}
	return quote(n + "}")
}

// orderRows returns an order's values (id 0 lets AUTO_INCREMENT pick) and
// its items' values with order id placeholder "%[1]d".
func (w *writer) order(id uint64, at string) (order string, items []string) {
	var total int64
	for n := 1 + w.rng.IntN(3); n > 0; n-- {
		qty := int64(1 + w.rng.IntN(4))
		price := int64(199 + w.rng.IntN(9800))
		total += qty * price
		items = append(items, fmt.Sprintf("(%%[1]d, %s, %d, %s)", quote(skus[w.rng.IntN(len(skus))]), qty, money(price)))
	}
	status := "new"
	if id != 0 { // seeded orders are spread over their life cycle
		status = []string{"new", "paid", "paid", "shipped", "shipped", "shipped", "cancelled"}[w.rng.IntN(7)]
	}
	cust := email(1 + w.rng.Uint64N(max(w.maxCustomer, 1)))
	idText := "NULL"
	if id != 0 {
		idText = fmt.Sprint(id)
	}
	return fmt.Sprintf("(%s, %s, '%s', %s, '%s', %s)", idText, quote(cust), status, money(total), at, w.note()), items
}

const seedBatch = 1000

// seed fills empty tables with n orders and n/10 customers; it returns the
// number of orders written (0 when orders already has rows).
func (w *writer) seed(n int) (int, error) {
	if n <= 0 || w.maxOrder > 0 {
		return 0, nil
	}
	q := "`" + w.db + "`"
	if w.maxCustomer == 0 {
		nc := max(n/10, 10)
		for start := 1; start <= nc; start += seedBatch {
			var rows []string
			for id := start; id < start+seedBatch && id <= nc; id++ {
				rows = append(rows, w.customerRow(uint64(id), w.randomTime()))
			}
			if _, err := w.exec("INSERT INTO " + q + ".customers (id, name, email, country, created_at) VALUES " + strings.Join(rows, ",")); err != nil {
				return 0, err
			}
			w.stats.customers += len(rows)
		}
		w.maxCustomer = uint64(nc)
	}
	for start := 1; start <= n; start += seedBatch {
		var orders, items []string
		for id := start; id < start+seedBatch && id <= n; id++ {
			o, its := w.order(uint64(id), w.randomTime())
			orders = append(orders, o)
			for _, it := range its {
				items = append(items, fmt.Sprintf(it, id))
			}
		}
		if err := w.tx(
			"INSERT INTO "+q+".orders (id, customer, status, amount, created_at, note) VALUES "+strings.Join(orders, ","),
			"INSERT INTO "+q+".order_items (order_id, sku, qty, price) VALUES "+strings.Join(items, ","),
		); err != nil {
			return 0, err
		}
		w.stats.items += len(items)
	}
	w.maxOrder = uint64(n)
	w.stats = stats{customers: w.stats.customers, items: w.stats.items}
	return n, nil
}
