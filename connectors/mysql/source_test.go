package mysql

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestQuestionsEndWithTheirContext: Databases, Tables and Describe asked
// of a server that accepted the connection but does not answer (a stopped
// mysqld: the kernel still accepts) return once their context ends — Ctrl-C
// stops a DESCRIBE or SHOW TABLES in the REPL — and leave no connection
// open.
func TestQuestionsEndWithTheirContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	src, err := NewSource("mute", "mysql://root@"+ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	for name, ask := range map[string]func(context.Context) error{
		"Databases": func(ctx context.Context) error {
			_, err := src.Databases(ctx)
			return err
		},
		"Tables": func(ctx context.Context) error {
			_, err := src.Tables(ctx, "db", "*")
			return err
		},
		"Describe": func(ctx context.Context) error {
			_, err := src.Describe(ctx, connectors.TableRef{DB: "db", Table: "t"})
			return err
		},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { res <- ask(ctx) }()
		var server net.Conn
		select {
		case server = <-accepted:
		case err := <-res:
			t.Fatalf("%s returned before it connected: %v", name, err)
		}
		mu.Lock()
		conns = append(conns, server)
		mu.Unlock()
		cancel()
		select {
		case err := <-res:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v, want context.Canceled", name, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s still waits for the server a minute after its context ended", name)
		}
		// The client side was closed: the server sees the end of the stream.
		server.SetReadDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 64)
		for {
			if _, err := server.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Errorf("%s left its connection open", name)
				}
				break
			}
		}
	}
}
