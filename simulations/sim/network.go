package sim

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// Network is libp2p's mock network (p2p/net/mock) between simulated
// nodes: every pair of nodes is linked with the default link options
// unless a partition cuts it, links can be slowed one by one, and every
// byte a node writes to a stream is counted.
//
// A node that restarts asks for a host again with the same key: Network
// replaces its old host's links with links to the new one, keeping the
// cuts and the per-link options.
type Network struct {
	mn       mocknet.Mocknet
	defaults mocknet.LinkOptions

	mu    sync.Mutex
	next  int                       // address of the next new peer
	addrs map[peer.ID]ma.Multiaddr  // each peer's address, kept across restarts
	sent  map[peer.ID]*atomic.Int64 // bytes each peer wrote to streams
	cut   map[[2]peer.ID]bool       // pairs a partition separates
	slow  map[[2]peer.ID]mocknet.LinkOptions
	down  map[peer.ID]bool // stopped nodes: unlinked, as a closed port
	onNew []streamHook
}

// streamHook fires once, on the first stream of proto opened by from
// (any peer when from is "").
type streamHook struct {
	from  peer.ID
	proto protocol.ID
	fire  func(to peer.ID)
	done  *atomic.Bool
}

// NewNetwork is a mock network whose links have the given latency (one
// way, per write) and bandwidth (bytes per second each way; 0: unlimited).
func NewNetwork(latency time.Duration, bandwidth float64) *Network {
	n := &Network{mn: mocknet.New(), defaults: mocknet.LinkOptions{Latency: latency, Bandwidth: bandwidth},
		addrs: map[peer.ID]ma.Multiaddr{}, sent: map[peer.ID]*atomic.Int64{},
		cut: map[[2]peer.ID]bool{}, slow: map[[2]peer.ID]mocknet.LinkOptions{}, down: map[peer.ID]bool{}}
	n.mn.SetLinkDefaults(n.defaults)
	return n
}

// Close closes every host still open.
func (n *Network) Close() error { return n.mn.Close() }

func pair(a, b peer.ID) [2]peer.ID {
	if a > b {
		a, b = b, a
	}
	return [2]peer.ID{a, b}
}

// Host is the node.Config.Underlay of a simulated node: a host of the mock
// network with the node's key, linked to every other peer.
func (n *Network) Host(key crypto.PrivKey) (host.Host, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	addr, ok := n.addrs[id]
	if !ok {
		n.next++
		addr = ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", n.next>>16&255, n.next>>8&255, n.next&255))
		n.addrs[id] = addr
		n.sent[id] = &atomic.Int64{}
	}
	n.unlinkAll(id) // a restart: the old host's links lead to its closed network
	delete(n.down, id)
	h, err := n.mn.AddPeer(key, addr)
	if err != nil {
		return nil, fmt.Errorf("sim: mock network: add %s: %w", id, err)
	}
	for _, other := range n.mn.Peers() {
		if other == id || n.cut[pair(id, other)] || n.down[other] {
			continue
		}
		if err := n.link(id, other); err != nil {
			h.Close()
			return nil, err
		}
	}
	return &countingHost{Host: h, net: n, sent: n.sent[id]}, nil
}

// unlinkAll removes every link of id (mu held).
func (n *Network) unlinkAll(id peer.ID) {
	for _, other := range n.mn.Peers() {
		if other != id {
			_ = n.mn.UnlinkPeers(id, other)
		}
	}
}

// stopped unlinks a node whose host closed: dials to it fail at once,
// as to a closed port, until it starts again.
func (n *Network) stopped(id peer.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[id] = true
	n.unlinkAll(id)
}

// link links a and b with their pair's options (mu held).
func (n *Network) link(a, b peer.ID) error {
	l, err := n.mn.LinkPeers(a, b)
	if err != nil {
		return fmt.Errorf("sim: mock network: link %s and %s: %w", a, b, err)
	}
	if o, ok := n.slow[pair(a, b)]; ok {
		l.SetOptions(o)
	}
	return nil
}

// Partition cuts every link between a peer of one group and a peer of
// another, and closes their connections, until Heal.
func (n *Network) Partition(groups ...[]peer.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					n.cut[pair(a, b)] = true
					_ = n.mn.UnlinkPeers(a, b)
					_ = n.mn.DisconnectPeers(a, b)
					_ = n.mn.DisconnectPeers(b, a)
				}
			}
		}
	}
}

// Heal relinks every pair a partition cut.
func (n *Network) Heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for p := range n.cut {
		delete(n.cut, p)
		if !n.down[p[0]] && !n.down[p[1]] {
			if err := n.link(p[0], p[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetLinks gives every link of p to the others the options o (a slow
// node: latency of seconds), from now on and across p's restarts.
func (n *Network) SetLinks(p peer.ID, o mocknet.LinkOptions) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, other := range n.mn.Peers() {
		if other == p {
			continue
		}
		n.slow[pair(p, other)] = o
		for _, l := range n.mn.LinksBetweenPeers(p, other) {
			l.SetOptions(o)
		}
	}
}

// Sent returns how many bytes each peer has written to streams so far.
func (n *Network) Sent() map[peer.ID]int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[peer.ID]int64, len(n.sent))
	for id, c := range n.sent {
		out[id] = c.Load()
	}
	return out
}

// OnFirstStream calls fire (in its own goroutine) when from (any peer if
// "") first opens a stream of proto after this call; fire gets the peer
// the stream goes to. A scenario hooks its fault to a moment of the
// protocol this way ("when the aggregator first asks for inputs").
func (n *Network) OnFirstStream(from peer.ID, proto protocol.ID, fire func(to peer.ID)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onNew = append(n.onNew, streamHook{from: from, proto: proto, fire: fire, done: &atomic.Bool{}})
}

func (n *Network) opened(from, to peer.ID, proto protocol.ID) {
	n.mu.Lock()
	hooks := n.onNew
	n.mu.Unlock()
	for _, h := range hooks {
		if (h.from == "" || h.from == from) && h.proto == proto && h.done.CompareAndSwap(false, true) {
			go h.fire(to)
		}
	}
}

// countingHost counts the bytes its node writes to every stream, opened
// or accepted.
type countingHost struct {
	host.Host
	net  *Network
	sent *atomic.Int64
}

func (h *countingHost) Close() error {
	err := h.Host.Close()
	h.net.stopped(h.ID())
	return err
}

func (h *countingHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	h.net.opened(h.ID(), p, s.Protocol())
	return &countingStream{Stream: s, sent: h.sent}, nil
}

func (h *countingHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) { handler(&countingStream{Stream: s, sent: h.sent}) })
}

func (h *countingHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, func(s network.Stream) { handler(&countingStream{Stream: s, sent: h.sent}) })
}

type countingStream struct {
	network.Stream
	sent *atomic.Int64
}

func (s *countingStream) Write(p []byte) (int, error) {
	n, err := s.Stream.Write(p)
	s.sent.Add(int64(n))
	return n, err
}
