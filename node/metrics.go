package node

import (
	"net/http"
	"strconv"
	"time"

	p2pmetrics "github.com/libp2p/go-libp2p/core/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the node's Prometheus metrics. They count operations, never
// data: no value, subject or per-organisation aggregate is ever a label or
// a sample.
type metrics struct {
	reg             *prometheus.Registry
	apiRequests     *prometheus.CounterVec
	apiDuration     *prometheus.HistogramVec
	wrongHost       prometheus.Counter
	importedRecords prometheus.Counter
	imports         *prometheus.CounterVec
	previews        prometheus.Counter
	governance      *prometheus.CounterVec
	roundRequests   *prometheus.CounterVec
	scheduledRounds *prometheus.CounterVec
	p2pBytes        *p2pmetrics.BandwidthCounter // the libp2p host's streams, by protocol
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), p2pBytes: p2pmetrics.NewBandwidthCounter()}
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxnet_api_requests_total", Help: "Local API requests by route and status code.",
	}, []string{"route", "code"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "cxnet_api_request_duration_seconds", Help: "Local API request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, []string{"route"})
	m.wrongHost = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxnet_api_wrong_host_total", Help: "Local API requests refused because their Host header did not name the API (e.g. a DNS-rebinding web page).",
	})
	m.importedRecords = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxnet_import_records_total", Help: "Records stored by committed imports.",
	})
	m.imports = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxnet_imports_total", Help: "Imports by outcome (committed, refused, dry_run).",
	}, []string{"outcome"})
	m.previews = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cxnet_contract_previews_total", Help: "Local contract previews computed.",
	})
	m.governance = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxnet_governance_entries_total", Help: "Governance log entries this node applied, by outcome (applied, rejected, skipped).",
	}, []string{"outcome"})
	m.roundRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxnet_round_requests_total", Help: "Round requests this node served for aggregators, by operation (commit, fetch, decrypt, attest, pads) and outcome (served, refused).",
	}, []string{"op", "outcome"})
	m.scheduledRounds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxnet_scheduled_rounds_total", Help: "Rounds this node opened on a contract's schedule, by outcome (released, failed).",
	}, []string{"outcome"})
	m.reg.MustRegister(m.apiRequests, m.apiDuration, m.wrongHost, m.importedRecords, m.imports, m.previews, m.governance, m.roundRequests, m.scheduledRounds,
		p2pBytesCollector{m.p2pBytes}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// instrument counts a route's requests and times them.
func (m *metrics) instrument(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		h(sw, r)
		m.apiDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.apiRequests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
