package main

import (
	"strconv"

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

// Per worker of this process (apply --log --workers N): worker is its
// number in the process (0 … N-1), id its name in the leases (the owner
// column of etlq status).
var (
	logWorkerLabels      = []string{"source", "worker", "id"}
	logWorkerOwnedDesc   = prometheus.NewDesc("etlq_log_worker_partitions_owned", "Partitions of the source's log the worker holds.", logWorkerLabels, nil)
	logWorkerHandedDesc  = prometheus.NewDesc("etlq_log_worker_messages_total", "Log messages the worker handed to its pipelines.", logWorkerLabels, nil)
	logWorkerAckedDesc   = prometheus.NewDesc("etlq_log_worker_acked_total", "Log messages the worker acknowledged: their rows written by the sinks.", logWorkerLabels, nil)
	logWorkerPendingDesc = prometheus.NewDesc("etlq_log_worker_lag_messages", "Messages left to read in the partitions the worker holds (as of the last one it handed over).", logWorkerLabels, nil)
	logWorkerLagDesc     = prometheus.NewDesc("etlq_log_worker_lag_seconds", "Age of the last message the worker handed over while its partition had more (0: caught up).", logWorkerLabels, nil)
)

// logCollector exposes the log workers' figures: the partitions held
// summed over the process, and each worker's own.
type logCollector struct {
	workers map[string][]*engine.WorkerStats
}

func (c logCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{logOwnedDesc, logWorkerOwnedDesc, logWorkerHandedDesc, logWorkerAckedDesc, logWorkerPendingDesc, logWorkerLagDesc} {
		ch <- d
	}
}

func (c logCollector) Collect(ch chan<- prometheus.Metric) {
	for src, ws := range c.workers {
		var n int64
		for i, w := range ws {
			n += w.Owned.Load()
			id := ""
			if p := w.ID.Load(); p != nil {
				id = *p
			}
			l := []string{src, strconv.Itoa(i), id}
			ch <- prometheus.MustNewConstMetric(logWorkerOwnedDesc, prometheus.GaugeValue, float64(w.Owned.Load()), l...)
			ch <- prometheus.MustNewConstMetric(logWorkerHandedDesc, prometheus.CounterValue, float64(w.Handed.Load()), l...)
			ch <- prometheus.MustNewConstMetric(logWorkerAckedDesc, prometheus.CounterValue, float64(w.Acked.Load()), l...)
			ch <- prometheus.MustNewConstMetric(logWorkerPendingDesc, prometheus.GaugeValue, float64(w.Pending.Load()), l...)
			ch <- prometheus.MustNewConstMetric(logWorkerLagDesc, prometheus.GaugeValue, w.Lag(), l...)
		}
		ch <- prometheus.MustNewConstMetric(logOwnedDesc, prometheus.GaugeValue, float64(n), src)
	}
}
