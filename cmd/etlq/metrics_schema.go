package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/etlq/etlq/exec/engine"
)

// schemaChangesDesc is etlq_schema_changes_total: the source DDLs each
// pipeline followed (docs/schema-changes.md).
var schemaChangesDesc = prometheus.NewDesc("etlq_schema_changes_total",
	"Source schema changes (DDL) the pipeline followed, per pipeline.", []string{"pipeline"}, nil)

// schemaChangeCollector exposes engine.PipelineStats.SchemaChanges.
type schemaChangeCollector struct{ stats *engine.Stats }

func (c schemaChangeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- schemaChangesDesc }

func (c schemaChangeCollector) Collect(ch chan<- prometheus.Metric) {
	names, ps := c.stats.Pipelines()
	for _, n := range names {
		ch <- prometheus.MustNewConstMetric(schemaChangesDesc, prometheus.CounterValue, float64(ps[n].SchemaChanges.Load()), n)
	}
}
