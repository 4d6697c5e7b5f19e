package node

import (
	p2pmetrics "github.com/libp2p/go-libp2p/core/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// bandwidth is the counter the libp2p host reports its streams' bytes to
// (nil, counting nothing, in handler tests that have no metrics).
func (m *metrics) bandwidth() *p2pmetrics.BandwidthCounter {
	if m == nil {
		return nil
	}
	return m.p2pBytes
}

// p2pBytesCollector exports the bandwidth counter's per-protocol totals
// at scrape time: bytes only, by protocol id, never data.
type p2pBytesCollector struct{ bw *p2pmetrics.BandwidthCounter }

var p2pBytesDesc = prometheus.NewDesc("cxnet_p2p_bytes_total",
	"Bytes on libp2p streams by protocol id and direction (sent, received), before yamux framing and TLS; advances once a second.",
	[]string{"protocol", "direction"}, nil)

func (c p2pBytesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p2pBytesDesc }

func (c p2pBytesCollector) Collect(ch chan<- prometheus.Metric) {
	for p, st := range c.bw.GetBandwidthByProtocol() {
		if p == "" {
			p = "unnegotiated" // a listener's bytes before the protocol is agreed
		}
		ch <- prometheus.MustNewConstMetric(p2pBytesDesc, prometheus.CounterValue, float64(st.TotalOut), string(p), "sent")
		ch <- prometheus.MustNewConstMetric(p2pBytesDesc, prometheus.CounterValue, float64(st.TotalIn), string(p), "received")
	}
}
