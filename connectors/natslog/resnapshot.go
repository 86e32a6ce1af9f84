package natslog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
)

// Resnapshot requests through the log (etlq resnapshot --log): the
// capture has no state directory, so a request is a key of the KV bucket
// <ns>_<source>_resnapshots, its value the request as the engine writes
// it, under its id (the engine makes ids of [A-Za-z0-9._-]). The capture hands the new ones to its stream and deletes each once
// the resnapshot's end is in the log; a request that cannot be carried
// out stays, with the reason, under failed.<id>.

func (l *Log) resnapshots(source string, create bool) (nats.KeyValue, error) {
	n := l.names(source)
	var cfg *nats.KeyValueConfig
	if create {
		cfg = &nats.KeyValueConfig{Bucket: n.resnaps, History: 1, Storage: nats.FileStorage,
			Description: "etlq resnapshot requests of " + n.stream}
	}
	kv, err := l.keyValue(n.resnaps, cfg)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	return kv, nil
}

// RequestResnapshot stores a request for the source's capture.
func (l *Log) RequestResnapshot(source, id string, req []byte) error {
	kv, err := l.resnapshots(source, true)
	if err != nil {
		return err
	}
	if err := l.put(kv, id, req); err != nil {
		return fmt.Errorf("log: resnapshot request: %w", err)
	}
	return nil
}

// ResnapshotRequests returns the requests not yet in the log, by id, and
// those that failed with their reasons.
func (l *Log) ResnapshotRequests(source string) (pending map[string][]byte, failed map[string]string, err error) {
	kv, err := l.resnapshots(source, false)
	if errors.Is(err, nats.ErrBucketNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	keys, err := l.keys(kv)
	if err != nil {
		return nil, nil, fmt.Errorf("log: resnapshot requests: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil, nil
	}
	pending, failed = map[string][]byte{}, map[string]string{}
	for _, k := range keys {
		if strings.HasPrefix(k, pipelinesKey) || strings.HasPrefix(k, scanPrefix) {
			continue // pipelines, pipelines.group.<group>; own scans (scan.go)
		}
		e, err := l.get(kv, k)
		if errors.Is(err, nats.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("log: resnapshot request: %w", err)
		}
		if len(k) > 7 && k[:7] == "failed." {
			failed[k[7:]] = string(e.Value())
		} else {
			pending[k] = e.Value()
		}
	}
	return pending, failed, nil
}

// ResnapshotDone removes a request: its resnapshot is in the log, or (with
// a reason) it failed.
func (l *Log) ResnapshotDone(source, id, failure string) error {
	kv, err := l.resnapshots(source, true)
	if err != nil {
		return err
	}
	if failure != "" {
		if err := l.put(kv, "failed."+id, []byte(failure)); err != nil {
			return fmt.Errorf("log: resnapshot request: %w", err)
		}
	}
	if err := l.wait(fmt.Sprintf("deleting key %q of the KV bucket %q", id, kv.Bucket()), func() error {
		if err := kv.Delete(id); err != nil && !errors.Is(err, nats.ErrKeyNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return fmt.Errorf("log: resnapshot request: %w", err)
	}
	return nil
}

// pipelinesKey holds, in the resnapshots bucket, the names of the
// pipelines the capture last published the source for (one per line): a
// capture started with a file that has a new one can tell it from the
// others (the engine asks a resnapshot for it). Request ids never take
// this name (they start with a time).
const pipelinesKey = "pipelines"

// CapturedPipelines returns the pipelines the source's capture last
// published for, and whether it recorded them (a stream captured by an
// etlq before they were kept has none).
func (l *Log) CapturedPipelines(source string) ([]string, bool, error) {
	return l.pipelineList(source, pipelinesKey)
}

// groupPipelinesKey is where, in the resnapshots bucket, the names of the
// pipelines that the workers of a group last started with are kept.
func groupPipelinesKey(group string) string { return pipelinesKey + ".group." + token(group) }

// GroupPipelines returns the pipelines the workers of a group last
// started with, and whether they recorded them (a group new to the log,
// or whose workers ran an etlq before they were kept, has none).
func (l *Log) GroupPipelines(source, group string) ([]string, bool, error) {
	return l.pipelineList(source, groupPipelinesKey(group))
}

// SetGroupPipelines records the pipelines the workers of a group start
// with now.
func (l *Log) SetGroupPipelines(source, group string, names []string) error {
	kv, err := l.resnapshots(source, true)
	if err != nil {
		return err
	}
	if err := l.put(kv, groupPipelinesKey(group), []byte(strings.Join(names, "\n"))); err != nil {
		return fmt.Errorf("log: the pipelines of group %s: %w", group, err)
	}
	return nil
}

func (l *Log) pipelineList(source, key string) ([]string, bool, error) {
	kv, err := l.resnapshots(source, false)
	if errors.Is(err, nats.ErrBucketNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	e, err := l.get(kv, key)
	if errors.Is(err, nats.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("log: the pipelines recorded in the log: %w", err)
	}
	if len(e.Value()) == 0 {
		return nil, true, nil
	}
	return strings.Split(string(e.Value()), "\n"), true, nil
}

// groupDefinitionsKey is where, in the resnapshots bucket, the
// definitions (WHERE, TRANSFORM, MODE, KEY) of the pipelines that the
// workers of a group last started with are kept: a JSON object the engine
// reads and writes (engine.groupNewPipelines).
func groupDefinitionsKey(group string) string {
	return pipelinesKey + ".definitions.group." + token(group)
}

// GroupDefinitions returns what SetGroupDefinitions last recorded for the
// group, and whether it recorded anything.
func (l *Log) GroupDefinitions(source, group string) ([]byte, bool, error) {
	kv, err := l.resnapshots(source, false)
	if errors.Is(err, nats.ErrBucketNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	e, err := l.get(kv, groupDefinitionsKey(group))
	if errors.Is(err, nats.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("log: the definitions of group %s's pipelines: %w", group, err)
	}
	return e.Value(), true, nil
}

// SetGroupDefinitions records the definitions of the pipelines the
// workers of a group start with now.
func (l *Log) SetGroupDefinitions(source, group string, data []byte) error {
	kv, err := l.resnapshots(source, true)
	if err != nil {
		return err
	}
	if err := l.put(kv, groupDefinitionsKey(group), data); err != nil {
		return fmt.Errorf("log: the definitions of group %s's pipelines: %w", group, err)
	}
	return nil
}

// SetCapturedPipelines records the pipelines the source's capture
// publishes for now.
func (l *Log) SetCapturedPipelines(source string, names []string) error {
	kv, err := l.resnapshots(source, true)
	if err != nil {
		return err
	}
	if err := l.put(kv, pipelinesKey, []byte(strings.Join(names, "\n"))); err != nil {
		return fmt.Errorf("log: the pipelines of the capture: %w", err)
	}
	return nil
}
