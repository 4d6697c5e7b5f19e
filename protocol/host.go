package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Defaults of HostConfig, sized for a consortium of up to ~100 members.
const (
	DefaultDialTimeout     = 5 * time.Second
	DefaultLowWater        = 128
	DefaultHighWater       = 192
	DefaultResourceMemory  = 1 << 30
	DefaultResourceFDs     = 1024
	defaultConnGracePeriod = 30 * time.Second
	memberProtectionTag    = "cxnet-member"
)

// HostConfig configures a Host.
type HostConfig struct {
	// Key is the node's libp2p identity (Ed25519). Required.
	Key crypto.PrivKey
	// Listen are TCP multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/4001.
	// Required; /tcp/0 picks a free port.
	Listen []string
	// Announce, when set, replaces the addresses the node tells peers
	// about: a node behind NAT announces its public TCP address.
	Announce []string
	// PSK, when set, is the consortium's 32-byte private-network key.
	PSK []byte
	// Members says who may connect. Required.
	Members Members
	// DialTimeout bounds Connect, including the security handshake.
	// Default DefaultDialTimeout.
	DialTimeout time.Duration
	// LowWater and HighWater bound the connection manager; member
	// connections are protected from trimming. Defaults DefaultLowWater,
	// DefaultHighWater.
	LowWater, HighWater int
	// ResourceMemory and ResourceFDs scale libp2p's default resource
	// limits (rcmgr.DefaultLimits). With the defaults DefaultResourceMemory
	// and DefaultResourceFDs that is, system-wide, 128 inbound / 256 total
	// connections, 4096 streams, 1024 file descriptors and ~1.1 GiB of
	// tracked buffer memory; per peer 8 connections and 768 streams: room
	// for ~100 members with a few connections each.
	ResourceMemory int64
	ResourceFDs    int
	// Metrics, when set, is a libp2p option that registers libp2p's
	// metrics, e.g. libp2p.PrometheusRegisterer(reg). Nil disables them.
	Metrics libp2p.Option
	// Bandwidth, when set, counts the bytes of every stream by protocol id
	// and direction (libp2p.BandwidthReporter): application bytes on the
	// streams, before yamux framing and TLS. Its totals advance once a
	// second (libp2p's meters are swept on a 1 s tick). Nil counts nothing.
	Bandwidth *metrics.BandwidthCounter
	// Underlay, for simulations and tests only, supplies the libp2p host
	// (for example one of libp2p's mock network, p2p/net/mock) instead of
	// the TCP/TLS host built from Listen, Announce and the limits above,
	// which are then ignored. It is called with the node's key; the host
	// it returns must have that identity. The allow-list still holds:
	// Connect refuses non-members, a connection the allow-list refuses is
	// closed as soon as it is up (the dialer may see it open for an
	// instant, as under TLS 1.3), and every stream handler checks the
	// allow-list again. No PSK with an underlay.
	Underlay func(key crypto.PrivKey) (host.Host, error)
}

func (c *HostConfig) validate() error {
	if c.Key == nil {
		return errors.New("protocol: host config: Key is required (the node's Ed25519 identity from keys/node.key)")
	}
	if c.Key.Type() != crypto.Ed25519 {
		return fmt.Errorf("protocol: host config: Key is a %s key; cxnet node identities are Ed25519 (re-run `cxnet init`)", c.Key.Type())
	}
	if c.Underlay != nil {
		if c.PSK != nil {
			return errors.New("protocol: host config: a PSK cannot protect an underlay host (simulations and tests run without one)")
		}
		if c.Members == nil {
			return errors.New("protocol: host config: Members is required (the replicated member list)")
		}
		if c.DialTimeout < 0 {
			return errors.New("protocol: host config: timeouts and limits must not be negative")
		}
		if c.DialTimeout == 0 {
			c.DialTimeout = DefaultDialTimeout
		}
		return nil
	}
	if len(c.Listen) == 0 {
		return errors.New("protocol: host config: Listen is empty; give at least one TCP multiaddr such as /ip4/0.0.0.0/tcp/4001")
	}
	for _, field := range []struct {
		name  string
		addrs []string
	}{{"listen", c.Listen}, {"announce", c.Announce}} {
		for _, s := range field.addrs {
			if _, err := tcpAddr(s); err != nil {
				return fmt.Errorf("protocol: host config: %s address %q: %w", field.name, s, err)
			}
		}
	}
	if c.PSK != nil && len(c.PSK) != PSKSize {
		return fmt.Errorf("protocol: host config: PSK is %d bytes, want %d (generate one with `cxnet consortium create --psk`)", len(c.PSK), PSKSize)
	}
	if c.Members == nil {
		return errors.New("protocol: host config: Members is required (the replicated member list)")
	}
	if c.DialTimeout < 0 || c.LowWater < 0 || c.HighWater < 0 || c.ResourceMemory < 0 || c.ResourceFDs < 0 {
		return errors.New("protocol: host config: timeouts and limits must not be negative")
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.LowWater == 0 {
		c.LowWater = DefaultLowWater
	}
	if c.HighWater == 0 {
		c.HighWater = max(DefaultHighWater, c.LowWater)
	}
	if c.HighWater < c.LowWater {
		return fmt.Errorf("protocol: host config: HighWater %d is below LowWater %d", c.HighWater, c.LowWater)
	}
	if c.ResourceMemory == 0 {
		c.ResourceMemory = DefaultResourceMemory
	}
	if c.ResourceFDs == 0 {
		c.ResourceFDs = DefaultResourceFDs
	}
	return nil
}

// tcpAddr parses s and checks it is a plain TCP multiaddr (no /p2p,
// relays, QUIC or websockets).
func tcpAddr(s string) (ma.Multiaddr, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("not a multiaddr: %w", err)
	}
	ps := a.Protocols()
	if len(ps) != 2 || ps[1].Code != ma.P_TCP {
		return nil, errors.New("not a TCP multiaddr like /ip4/0.0.0.0/tcp/4001 (cxnet uses TCP only, without /p2p)")
	}
	switch ps[0].Code {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
		return a, nil
	}
	return nil, errors.New("not a TCP multiaddr like /ip4/0.0.0.0/tcp/4001 (cxnet uses TCP only, without /p2p)")
}

// Host is the node's libp2p host: TCP, TLS, yamux, the allow-list gater,
// resource and connection managers. It never relays, hole-punches or
// announces itself by mDNS.
type Host struct {
	h       host.Host
	gater   *Allowlist
	cm      coreconnmgr.ConnManager
	cfg     HostConfig
	log     *slog.Logger
	closeMu sync.Once
	err     error
}

// NewHost creates the host and binds its listen addresses (it must, to
// know its own addresses); it dials no one.
func NewHost(cfg HostConfig, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	gater := NewAllowlist(cfg.Members, log.With("component", "allowlist"))
	if cfg.Underlay != nil {
		return newUnderlayHost(cfg, gater, log)
	}

	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Scale(cfg.ResourceMemory, cfg.ResourceFDs)))
	if err != nil {
		return nil, fmt.Errorf("protocol: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(cfg.LowWater, cfg.HighWater, connmgr.WithGracePeriod(defaultConnGracePeriod))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("protocol: connection manager: %w", err)
	}

	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(tls.ID, tls.New), // TLS only: Noise's X25519 fails under GODEBUG=fips140=only
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionGater(gater),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.WithDialTimeout(cfg.DialTimeout),
		libp2p.UserAgent("cxnet"),
	}
	if len(cfg.Announce) > 0 {
		announce := make([]ma.Multiaddr, 0, len(cfg.Announce))
		for _, s := range cfg.Announce {
			a, _ := tcpAddr(s) // validated
			announce = append(announce, a)
		}
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	if cfg.PSK != nil {
		opts = append(opts, libp2p.PrivateNetwork(cfg.PSK))
	}
	if cfg.Bandwidth != nil {
		opts = append(opts, libp2p.BandwidthReporter(cfg.Bandwidth))
	}
	if cfg.Metrics != nil {
		opts = append(opts, cfg.Metrics)
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		// libp2p.New closes the managers it was given on failure.
		return nil, fmt.Errorf("protocol: start libp2p host on %v: %w (is the port already in use?)", cfg.Listen, err)
	}
	log.Info("libp2p host listening", "peer_id", h.ID().String(), "addrs", fmt.Sprint(h.Addrs()),
		"private_network", cfg.PSK != nil, "psk_fingerprint", PSKFingerprint(cfg.PSK))
	return &Host{h: h, gater: gater, cm: cm, cfg: cfg, log: log}, nil
}

// newUnderlayHost wraps the host cfg.Underlay supplies, closing every
// connection the allow-list refuses as soon as it is up: the underlay's
// own dialer does not consult a gater.
func newUnderlayHost(cfg HostConfig, gater *Allowlist, log *slog.Logger) (*Host, error) {
	h, err := cfg.Underlay(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("protocol: underlay host: %w", err)
	}
	if want, err := peer.IDFromPrivateKey(cfg.Key); err != nil || h.ID() != want {
		h.Close()
		return nil, fmt.Errorf("protocol: underlay host has peer id %s, not the node's %s", h.ID(), want)
	}
	h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if !gater.InterceptSecured(c.Stat().Direction, c.RemotePeer(), c) {
			c.Close()
		}
	}})
	for _, c := range h.Network().Conns() {
		if !gater.Allowed(c.RemotePeer()) {
			c.Close()
		}
	}
	log.Info("libp2p underlay host", "peer_id", h.ID().String(), "addrs", fmt.Sprint(h.Addrs()))
	return &Host{h: h, gater: gater, cm: h.ConnManager(), cfg: cfg, log: log}, nil
}

// Raw returns the libp2p host, for the wire protocols (raftnet, rpc).
func (h *Host) Raw() host.Host { return h.h }

// ID returns the node's peer ID.
func (h *Host) ID() peer.ID { return h.h.ID() }

// Allowlist returns the host's connection gater, for exceptions
// ([Allowlist.AllowFor]) and as the allowed-check of stream handlers.
func (h *Host) Allowlist() *Allowlist { return h.gater }

// Allowed reports whether p may talk to this node now.
func (h *Host) Allowed(p peer.ID) bool { return h.gater.Allowed(p) }

// Addrs returns the addresses peers should dial, each ending in /p2p/<id>:
// the announce addresses if configured, else the bound listen addresses.
func (h *Host) Addrs() []ma.Multiaddr {
	info := peer.AddrInfo{ID: h.h.ID(), Addrs: h.h.Addrs()}
	out, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	return out
}

// AddPeer records a member's addresses permanently in the peerstore, so
// raft and rpc can reach it by peer ID.
func (h *Host) AddPeer(info peer.AddrInfo) {
	h.h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
}

// Protect keeps the connection manager from trimming connections to p, a
// member.
func (h *Host) Protect(p peer.ID) { h.cm.Protect(p, memberProtectionTag) }

// Unprotect undoes Protect, when p leaves the consortium.
func (h *Host) Unprotect(p peer.ID) { h.cm.Unprotect(p, memberProtectionTag) }

// Connect dials info within the configured DialTimeout (or ctx's, if
// shorter), bypassing libp2p's dial backoff. Its errors say what to check
// (see ErrNotMember, ErrHandshake, ErrRefused, ErrUnreachable).
func (h *Host) Connect(ctx context.Context, info peer.AddrInfo) error {
	if info.ID == h.h.ID() {
		return fmt.Errorf("protocol: cannot connect to %s: that is this node's own peer id", info.ID)
	}
	if h.cfg.Underlay != nil && !h.gater.InterceptPeerDial(info.ID) {
		return classifyDialError(info.ID, swarm.ErrGaterDisallowedConnection, nil) // the underlay's dialer has no gater
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.DialTimeout)
	defer cancel()
	ctx = network.WithForceDirectDial(ctx, "cxnet connect")
	if err := h.h.Connect(ctx, info); err != nil {
		return classifyDialError(info.ID, err, h.cfg.PSK)
	}
	return h.confirm(ctx, info.ID)
}

// confirm waits for identify to finish on the connections to p. Under TLS
// 1.3 the dialer's handshake completes before the listener has checked the
// dialer's certificate, so a listener whose allow-list refuses this node
// closes a connection that Connect already reported as open; identify is
// the first exchange that notices.
func (h *Host) confirm(ctx context.Context, p peer.ID) error {
	if ids, ok := h.h.(interface{ IDService() identify.IDService }); ok {
		for _, c := range h.h.Network().ConnsToPeer(p) {
			select {
			case <-ids.IDService().IdentifyWait(c):
			case <-ctx.Done():
				return classifyDialError(p, ctx.Err(), h.cfg.PSK)
			}
		}
	}
	if h.h.Network().Connectedness(p) != network.Connected {
		return fmt.Errorf("protocol: cannot connect to %s: %w right after the handshake — is this node an admitted member there (its allow-list refuses unknown peers)?", p, ErrRefused)
	}
	return nil
}

// DisconnectNonMembers closes connections to peers that are no longer
// allowed (after a member was removed or an exception ended) and returns
// how many peers it dropped.
func (h *Host) DisconnectNonMembers() int {
	n := 0
	for _, p := range h.h.Network().Peers() {
		if h.gater.Allowed(p) {
			continue
		}
		h.cm.Unprotect(p, memberProtectionTag)
		if err := h.h.Network().ClosePeer(p); err != nil {
			h.log.Debug("close connection to non-member", "peer", p.String(), "err", err)
		}
		n++
	}
	return n
}

// Close shuts the host down. It is safe to call more than once.
func (h *Host) Close() error {
	h.closeMu.Do(func() {
		if err := h.h.Close(); err != nil {
			h.err = fmt.Errorf("protocol: close libp2p host: %w", err)
		}
	})
	return h.err
}
