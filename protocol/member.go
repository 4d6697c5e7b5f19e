package protocol

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cxnet/cxnet/kpi"
)

// AddrInfo returns where to reach a member's node: its peer ID and TCP
// addresses from the member descriptor. Addresses may end in /p2p/<id>; a
// /p2p part naming another peer is an error. It does not check the
// descriptor's signature (kpi.Member.Verify does).
func AddrInfo(m kpi.Member) (peer.AddrInfo, error) {
	id, err := peer.Decode(m.PeerID)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("protocol: member %s: peer_id %q is not a libp2p peer id: %w", m.Org, m.PeerID, err)
	}
	info := peer.AddrInfo{ID: id}
	for _, s := range m.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return peer.AddrInfo{}, fmt.Errorf("protocol: member %s: address %q is not a multiaddr: %w", m.Org, s, err)
		}
		transport, p2p := peer.SplitAddr(a)
		if p2p != "" && p2p != id {
			return peer.AddrInfo{}, fmt.Errorf("protocol: member %s: address %q names peer %s, not the member's %s", m.Org, s, p2p, id)
		}
		if transport == nil {
			continue
		}
		if _, err := tcpAddr(transport.String()); err != nil {
			return peer.AddrInfo{}, fmt.Errorf("protocol: member %s: address %q: %w", m.Org, s, err)
		}
		info.Addrs = append(info.Addrs, transport)
	}
	return info, nil
}
