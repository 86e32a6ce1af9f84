package natslog

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// The schemas of a stream's messages (codec 2). A message carries its
// record batch alone and names its schema by hash; the schema message is
// stored once per (table, schema version) in the KV bucket
// <stream>_schemas, which keeps it without limit of age or size (a
// schema is a few KiB, a table has a handful of versions): it outlives
// every message that names it.

// schemaBucket returns the stream's schema bucket, creating it when asked.
func (l *Log) schemaBucket(n names, create bool) (nats.KeyValue, error) {
	l.mu.Lock()
	kv := l.schemaKV[n.schemas]
	l.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	var cfg *nats.KeyValueConfig
	if create {
		cfg = &nats.KeyValueConfig{Bucket: n.schemas, History: 1, Storage: nats.FileStorage,
			Description: "etlq Arrow schemas of the messages of " + n.stream}
	}
	kv, err := l.keyValue(n.schemas, cfg)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	l.mu.Lock()
	l.schemaKV[n.schemas] = kv
	l.mu.Unlock()
	return kv, nil
}

// putSchema stores a schema message under its hash, once per process:
// before the first message that names it is published.
func (l *Log) putSchema(n names, hash string, msg []byte) error {
	key := n.schemas + "/" + hash
	l.mu.Lock()
	_, ok := l.schemaCache[key]
	l.mu.Unlock()
	if ok {
		return nil
	}
	kv, err := l.schemaBucket(n, true)
	if err != nil {
		return err
	}
	if _, err := kv.Put(hash, msg); err != nil {
		return fmt.Errorf("log: store schema %s in %s: %w", hash, n.schemas, err)
	}
	l.mu.Lock()
	l.schemaCache[key] = bytes.Clone(msg)
	l.mu.Unlock()
	return nil
}

// schema returns the schema message stored under hash, from the cache or
// the bucket. While the server does not answer it tries again (wait.go):
// until the worker stops. Before, it gave up after about half a minute,
// and the worker with it.
func (l *Log) schema(n names, hash string) ([]byte, error) {
	if hash == "" {
		return nil, fmt.Errorf("codec %s message without its %s header", codec, hdrSchema)
	}
	key := n.schemas + "/" + hash
	l.mu.Lock()
	msg, ok := l.schemaCache[key]
	l.mu.Unlock()
	if ok {
		return msg, nil
	}
	var last error
	msg, err := waitFor(l, fmt.Sprintf("schema %s in the KV bucket %q", hash, n.schemas), func() ([]byte, error) {
		msg, err := l.fetchSchema(n, hash)
		last = err
		return msg, err
	})
	if err != nil {
		if last != nil && !away(last) {
			return nil, last // (it says what is wrong with the schema)
		}
		return nil, err
	}
	l.mu.Lock()
	l.schemaCache[key] = msg
	l.mu.Unlock()
	return msg, nil
}

func (l *Log) fetchSchema(n names, hash string) ([]byte, error) {
	kv, err := l.schemaBucket(n, false)
	if errors.Is(err, nats.ErrBucketNotFound) {
		return nil, fmt.Errorf("its schema %s cannot be read: the schema bucket %s does not exist (deleted by hand?)", hash, n.schemas)
	}
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(hash)
	if errors.Is(err, nats.ErrKeyNotFound) {
		return nil, fmt.Errorf("its schema %s is not in the bucket %s (deleted by hand?): the message cannot be decoded", hash, n.schemas)
	}
	if err != nil {
		return nil, fmt.Errorf("its schema %s: %w", hash, err)
	}
	msg := e.Value()
	if schemaHash(msg) != hash {
		return nil, fmt.Errorf("its schema %s: the bucket %s holds a schema of another hash under it", hash, n.schemas)
	}
	return msg, nil
}
