package protocol

import (
	"strings"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

func TestAddrInfo(t *testing.T) {
	const id = "12D3KooWAR14CfZtr9DWVD4kY94Mzh4AZTPbwmN51NuW2ypFGV95"
	const other = "12D3KooWFg9Tzr6EYLqC6o2eVkvAiDLrYMrFRu42utfEYLosVe8D"
	tests := []struct {
		name      string
		m         kpi.Member
		wantAddrs []string
		wantErr   string
	}{
		{"plain and /p2p addresses", kpi.Member{Org: "hosp-a", PeerID: id, Addrs: []string{
			"/ip4/192.0.2.1/tcp/4001", "/dns4/node.hosp-a.example/tcp/4001/p2p/" + id,
		}}, []string{"/ip4/192.0.2.1/tcp/4001", "/dns4/node.hosp-a.example/tcp/4001"}, ""},
		{"no addresses", kpi.Member{Org: "hosp-a", PeerID: id}, nil, ""},
		{"bad peer id", kpi.Member{Org: "hosp-a", PeerID: "hosp-a"}, nil, "is not a libp2p peer id"},
		{"bad address", kpi.Member{Org: "hosp-a", PeerID: id, Addrs: []string{"192.0.2.1:4001"}}, nil, "is not a multiaddr"},
		{"other peer's address", kpi.Member{Org: "hosp-a", PeerID: id, Addrs: []string{"/ip4/192.0.2.1/tcp/4001/p2p/" + other}}, nil, "names peer"},
		{"quic address", kpi.Member{Org: "hosp-a", PeerID: id, Addrs: []string{"/ip4/192.0.2.1/udp/4001/quic-v1"}}, nil, "TCP only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := AddrInfo(tc.m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "hosp-a") {
					t.Fatalf("AddrInfo: %v, want an error naming the member and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.ID.String() != id || len(info.Addrs) != len(tc.wantAddrs) {
				t.Fatalf("AddrInfo = %v", info)
			}
			for i, a := range info.Addrs {
				if a.String() != tc.wantAddrs[i] {
					t.Errorf("addr %d = %s, want %s", i, a, tc.wantAddrs[i])
				}
			}
		})
	}
}
