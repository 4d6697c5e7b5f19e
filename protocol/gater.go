package protocol

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Members says which peers are admitted members of the consortium. The node
// implements it from the replicated member list; it is called on every
// connection attempt, so it must be fast and safe for concurrent use.
type Members interface {
	Contains(peer.ID) bool
}

// MembersFunc adapts a function to [Members].
type MembersFunc func(peer.ID) bool

// Contains calls f.
func (f MembersFunc) Contains(p peer.ID) bool { return f(p) }

// PeerSet is a set of peer IDs, safe for concurrent use: the members a
// gater lets in, or the peers a node refuses. The zero value is an empty
// set.
type PeerSet struct {
	mu    sync.RWMutex
	peers map[peer.ID]struct{}
}

// NewPeerSet returns a set holding ids.
func NewPeerSet(ids ...peer.ID) *PeerSet {
	s := &PeerSet{}
	s.Replace(ids...)
	return s
}

// Contains reports whether p is in the set.
func (s *PeerSet) Contains(p peer.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.peers[p]
	return ok
}

// Add puts ids in the set.
func (s *PeerSet) Add(ids ...peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers == nil {
		s.peers = make(map[peer.ID]struct{}, len(ids))
	}
	for _, id := range ids {
		s.peers[id] = struct{}{}
	}
}

// Remove takes ids out of the set.
func (s *PeerSet) Remove(ids ...peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.peers, id)
	}
}

// Replace makes the set hold exactly ids (for example after the replicated
// member list changed).
func (s *PeerSet) Replace(ids ...peer.ID) {
	m := make(map[peer.ID]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	s.mu.Lock()
	s.peers = m
	s.mu.Unlock()
}

// Allowlist is a connection gater that lets only members (and short-lived,
// explicit exceptions) connect, in either direction. Inbound connections
// are refused at InterceptSecured, the first point where the remote peer
// ID is authenticated; outbound dials are refused before any packet leaves
// (InterceptPeerDial, InterceptAddrDial) and checked again once secured.
//
// It is safe for concurrent use.
type Allowlist struct {
	members Members
	log     *slog.Logger
	now     func() time.Time

	mu     sync.Mutex
	grants map[peer.ID]map[uint64]time.Time // peer → grant id → expiry
	nextID uint64
}

var (
	_ connmgr.ConnectionGater = (*Allowlist)(nil)
	_ Members                 = (*PeerSet)(nil)
)

// NewAllowlist returns an allow-list that consults members. A nil log
// discards log output.
func NewAllowlist(members Members, log *slog.Logger) *Allowlist {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if members == nil {
		members = MembersFunc(func(peer.ID) bool { return false })
	}
	return &Allowlist{members: members, log: log, now: time.Now, grants: map[peer.ID]map[uint64]time.Time{}}
}

// AllowFor lets p connect (both ways) for ttl even though it is not a
// member, until ttl has passed or revoke is called, whichever comes first.
// It is for the one-off dials a joining node makes: to the member it was
// told to join through (--via), and for the raft leader that then reaches
// it before the node has learned the member list. Connections opened during
// the exception are not closed when it ends; the node drops them with
// [Host.DisconnectNonMembers] once it knows the member list.
func (a *Allowlist) AllowFor(p peer.ID, ttl time.Duration) (revoke func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nextID++
	id := a.nextID
	if a.grants[p] == nil {
		a.grants[p] = map[uint64]time.Time{}
	}
	a.grants[p][id] = a.now().Add(ttl)
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.grants[p], id)
		if len(a.grants[p]) == 0 {
			delete(a.grants, p)
		}
	}
}

// Allowed reports whether p may connect now: it is a member or holds an
// unexpired exception. Stream handlers use it as their second check.
func (a *Allowlist) Allowed(p peer.ID) bool {
	if a.members.Contains(p) {
		return true
	}
	return a.excepted(p)
}

func (a *Allowlist) excepted(p peer.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	ok := false
	for id, until := range a.grants[p] {
		if now.Before(until) {
			ok = true
		} else {
			delete(a.grants[p], id)
		}
	}
	if len(a.grants[p]) == 0 {
		delete(a.grants, p)
	}
	return ok
}

// InterceptPeerDial refuses outbound dials to non-members.
func (a *Allowlist) InterceptPeerDial(p peer.ID) bool {
	if a.Allowed(p) {
		return true
	}
	a.log.Debug("refused dial to non-member", "peer", p.String())
	return false
}

// InterceptAddrDial applies the InterceptPeerDial rule per address.
func (a *Allowlist) InterceptAddrDial(p peer.ID, addr ma.Multiaddr) bool {
	if a.Allowed(p) {
		return true
	}
	a.log.Debug("refused dial to non-member", "peer", p.String(), "addr", addr.String())
	return false
}

// InterceptAccept lets every inbound connection reach the security
// handshake: the remote peer is not known before it.
func (a *Allowlist) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses authenticated connections from or to
// non-members.
func (a *Allowlist) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if a.Allowed(p) {
		return true
	}
	remote := ""
	if addrs != nil && addrs.RemoteMultiaddr() != nil {
		remote = addrs.RemoteMultiaddr().String()
	}
	msg := "refused connection from non-member"
	if dir == network.DirOutbound {
		msg = "refused connection to non-member"
	}
	a.log.Debug(msg, "peer", p.String(), "remote_addr", remote)
	return false
}

// InterceptUpgraded allows every connection that got this far.
func (a *Allowlist) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
