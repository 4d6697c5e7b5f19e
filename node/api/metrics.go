package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus metrics. They count operations, never
// data: no value, subject or per-organisation aggregate is ever a label or
// a sample.
type metrics struct {
	apiRequests     *prometheus.CounterVec
	apiDuration     *prometheus.HistogramVec
	wrongHost       prometheus.Counter
	importedRecords prometheus.Counter
	imports         *prometheus.CounterVec
	previews        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxnet_api_requests_total", Help: "Local API requests by route and status code.",
		}, []string{"route", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cxnet_api_request_duration_seconds", Help: "Local API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"route"}),
		wrongHost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxnet_api_wrong_host_total", Help: "Local API requests refused because their Host header did not name the API (e.g. a DNS-rebinding web page).",
		}),
		importedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxnet_import_records_total", Help: "Records stored by committed imports.",
		}),
		imports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxnet_imports_total", Help: "Imports by outcome (committed, refused, dry_run).",
		}, []string{"outcome"}),
		previews: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxnet_contract_previews_total", Help: "Local contract previews computed.",
		}),
	}
	for _, c := range []prometheus.Collector{m.apiRequests, m.apiDuration, m.wrongHost, m.importedRecords, m.imports, m.previews} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
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
