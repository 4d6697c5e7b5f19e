package node

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestP2PBytesMetric: what the libp2p host reports to the node's bandwidth
// counter appears on /metrics as cxnet_p2p_bytes_total by protocol and
// direction, bytes a listener read before a protocol was agreed under
// "unnegotiated"; and no peer id is a label.
func TestP2PBytesMetric(t *testing.T) {
	m := newMetrics()
	const peer = "12D3KooWQaGJmgg3FL8sLYtGqrGrStgmbC3S5foSGHcsAoJSHKUp"
	bw := m.bandwidth()
	bw.LogSentMessageStream(262_000, "/cxnet/round/3.0.0", peer)
	bw.LogRecvMessageStream(131_000, "/cxnet/round/3.0.0", peer)
	bw.LogSentMessageStream(512, "/cxnet/raft/1.0.0", peer)
	bw.LogRecvMessageStream(40, "", peer)
	want := []string{
		`cxnet_p2p_bytes_total{direction="sent",protocol="/cxnet/round/3.0.0"} 262000`,
		`cxnet_p2p_bytes_total{direction="received",protocol="/cxnet/round/3.0.0"} 131000`,
		`cxnet_p2p_bytes_total{direction="sent",protocol="/cxnet/raft/1.0.0"} 512`,
		`cxnet_p2p_bytes_total{direction="received",protocol="/cxnet/raft/1.0.0"} 0`,
		`cxnet_p2p_bytes_total{direction="received",protocol="unnegotiated"} 40`,
	}
	// libp2p's meters add up on a 1 s sweep.
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		body = string(b)
		if metricsHasAll(body, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics after 5 s lacks one of\n%s\ngot:\n%s", strings.Join(want, "\n"), metricLines(body, "cxnet_p2p"))
		}
	}
	if strings.Contains(body, peer) {
		t.Errorf("/metrics names a peer:\n%s", metricLines(body, peer))
	}
}

func metricsHasAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func metricLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
