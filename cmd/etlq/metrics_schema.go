package main

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/etlq/etlq/exec/engine"
)

// schemaChangesDesc is etlq_schema_changes_total: the source DDLs each
// pipeline followed (docs/schema-changes.md).
var schemaChangesDesc = prometheus.NewDesc("etlq_schema_changes_total",
	"Source schema changes (DDL) the pipeline followed, per pipeline.", []string{"pipeline"}, nil)

// pipelineStoppedDesc is etlq_pipeline_stopped: 1 for a pipeline that
// stopped by an error of its own while the others of its source went on
// (docs/live-tables.md, "One failing pipeline").
var pipelineStoppedDesc = prometheus.NewDesc("etlq_pipeline_stopped",
	"1 when the pipeline stopped by an error of its own (the others of its source go on), else 0.", []string{"pipeline"}, nil)

// schemaChangeCollector exposes engine.PipelineStats.SchemaChanges and
// Stopped.
type schemaChangeCollector struct{ stats *engine.Stats }

func (c schemaChangeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- schemaChangesDesc
	ch <- pipelineStoppedDesc
}

func (c schemaChangeCollector) Collect(ch chan<- prometheus.Metric) {
	names, ps := c.stats.Pipelines()
	for _, n := range names {
		ch <- prometheus.MustNewConstMetric(schemaChangesDesc, prometheus.CounterValue, float64(ps[n].SchemaChanges.Load()), n)
		stopped := 0.0
		if ps[n].Stopped.Load() {
			stopped = 1
		}
		ch <- prometheus.MustNewConstMetric(pipelineStoppedDesc, prometheus.GaugeValue, stopped, n)
	}
}

// logOwnedDesc is etlq_log_partitions_owned: the partitions of each
// source's log the workers of this process hold (apply --log,
// docs/scale-out.md).
var logOwnedDesc = prometheus.NewDesc("etlq_log_partitions_owned",
	"Partitions of the source's log (apply --log) that this process's workers hold.", []string{"source"}, nil)

// logCollector exposes the partitions held, summed over the workers.
type logCollector struct{ owned map[string][]*atomic.Int64 }

func (c logCollector) Describe(ch chan<- *prometheus.Desc) { ch <- logOwnedDesc }

func (c logCollector) Collect(ch chan<- prometheus.Metric) {
	for src, ws := range c.owned {
		var n int64
		for _, w := range ws {
			n += w.Load()
		}
		ch <- prometheus.MustNewConstMetric(logOwnedDesc, prometheus.GaugeValue, float64(n), src)
	}
}
