package node

import (
	p2pmetrics "github.com/libp2p/go-libp2p/core/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the node's Prometheus metrics, beside the API's (package
// api registers its own on reg). They count operations, never data: no
// value, subject or per-organisation aggregate is ever a label or a
// sample.
type metrics struct {
	reg             *prometheus.Registry
	governance      *prometheus.CounterVec
	roundRequests   *prometheus.CounterVec
	scheduledRounds *prometheus.CounterVec
	p2pBytes        *p2pmetrics.BandwidthCounter // the libp2p host's streams, by protocol
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), p2pBytes: p2pmetrics.NewBandwidthCounter()}
	m.governance = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxnet_governance_entries_total", Help: "Governance log entries this node applied, by outcome (applied, rejected, skipped).",
	}, []string{"outcome"})
	m.roundRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxnet_round_requests_total", Help: "Round requests this node served for aggregators, by operation (commit, fetch, decrypt, attest, pads) and outcome (served, refused).",
	}, []string{"op", "outcome"})
	m.scheduledRounds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxnet_scheduled_rounds_total", Help: "Rounds this node opened on a contract's schedule, by outcome (released, failed).",
	}, []string{"outcome"})
	m.reg.MustRegister(m.governance, m.roundRequests, m.scheduledRounds, p2pBytesCollector{m.p2pBytes},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
