// Package node is the cxnet daemon and the only package that wires the
// parts together: it loads a node's config (validated once) and home,
// opens the store, and runs the consortium — the libp2p host and the wire
// protocols it serves (protocol/join, gov, keys, round), the governance
// state machine replicated by raft (raftManager), the peers it admits and
// dials (peerManager), the key epochs (node/keymgr) and the KPI rounds
// (node/rounds: the aggregator and a member's policy) — behind the local
// HTTP API (node/api), /metrics and the dashboard (node/ui). The parts
// (protocol, contracts, privacy, store, ingest) never import it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/api"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/home"
	"github.com/cxnet/cxnet/store"
)

// Version is set at build time (-ldflags "-X github.com/cxnet/cxnet/node.Version=...").
var Version = "dev"

// Node is one organisation's cxnet daemon.
type Node struct {
	home    *Home
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	db    *store.DB
	cons  *consortium
	gcNow chan struct{} // asks for a value-log GC soon (after a refused import)
	ready atomic.Bool
	// auditedIndex is the last raft index whose event is in the audit log.
	auditedIndex atomic.Uint64
	started      time.Time
	apiAddr      string
	changes      broadcast
}

// New prepares a node; it does no I/O. Run starts it.
func New(home *Home, cfg Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{home: home, cfg: cfg, log: log, metrics: newMetrics(), gcNow: make(chan struct{}, 1)}, nil
}

// Run opens the store, serves the local API and blocks until ctx ends;
// then it shuts down cleanly and returns once everything has stopped.
func (n *Node) Run(ctx context.Context) error {
	n.started = n.cfg.Now()
	db, err := store.Open(store.Config{
		Dir:           filepath.Join(n.home.Dir, home.DataDir),
		EncryptionKey: n.home.StoreKey,
		PseudonymKey:  n.home.SubjectKey,
		Large:         n.cfg.Store.Profile == "large",
	}, n.log)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return fmt.Errorf("another cxnet daemon is running on home %s (its store is locked); stop it first", n.home.Dir)
		}
		return err
	}
	n.db = db
	defer func() {
		if err := db.Close(); err != nil {
			n.log.Error("close store", "err", err)
		}
	}()

	if err := n.loadAuditIndex(); err != nil {
		return err
	}
	if n.cons, err = newConsortium(n.home, n.cfg, db, n.log, n.onGovernanceEvent, n.changes.notify); err != nil {
		return err
	}
	n.cons.metrics = n.metrics
	if err := n.cons.start(ctx); err != nil {
		n.cons.stop()
		return err
	}
	defer n.cons.stop()

	ln, err := net.Listen("tcp", n.cfg.API)
	if err != nil {
		return fmt.Errorf("local API: listen on %s: %w (is another node using that port? set --api)", n.cfg.API, err)
	}
	n.apiAddr = ln.Addr().String()
	addrFile := filepath.Join(n.home.Dir, client.APIAddrFile)
	if err := os.WriteFile(addrFile, []byte(n.apiAddr+"\n"), 0o644); err != nil {
		ln.Close()
		return err
	}
	defer os.Remove(addrFile)

	a, err := api.New(api.Config{Org: n.cfg.Org, Token: n.home.Token, Addr: n.apiAddr, DB: db, State: n.cons.fsm.Read,
		Components: func(ctx context.Context, c *contracts.Contract) ([]int64, int64, error) {
			return n.cons.comps.of(ctx, c)
		},
		Backend: apiBackend{n}, Registry: n.metrics.reg, Now: n.cfg.Now, Log: n.log})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		n.collectGarbage(ctx)
	}()
	n.ready.Store(true)
	n.log.Info("node ready", "org", n.cfg.Org, "peer_id", n.home.PeerID.String(), "api", n.apiAddr, "version", Version)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("local API: %w", err)
	}
	n.ready.Store(false)
	n.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		n.log.Warn("local API shutdown", "err", err)
	}
	<-serveErr
	<-gcDone
	n.log.Info("stopped")
	return nil
}

// collectGarbage reclaims store space every few minutes and after refused
// imports, until ctx ends.
func (n *Node) collectGarbage(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.gcNow:
		}
		if err := n.db.CollectGarbage(); err != nil {
			n.log.Warn("store garbage collection", "err", err)
		}
	}
}

// onGovernanceEvent records every governance event this node sees — its
// own and every other member's, applied, refused or skipped — in the
// hash-chained audit log.
//
// Raft replays the log after a restart; entries already recorded are not
// recorded again.
func (n *Node) onGovernanceEvent(e contracts.Event) {
	if e.Index <= n.auditedIndex.Load() {
		return
	}
	n.auditedIndex.Store(e.Index)
	detail := map[string]string{"outcome": string(e.Outcome), "index": strconv.FormatUint(e.Index, 10)}
	for k, v := range e.Detail {
		detail[k] = v
	}
	if _, err := n.db.AppendAudit(store.AuditEntry{Kind: e.Type, Actor: string(e.Actor), Object: e.Object, Detail: detail}); err != nil {
		n.log.Error("audit log", "err", err)
	}
	n.metrics.governance.WithLabelValues(string(e.Outcome)).Inc()
	n.log.Info("governance", "event", e.Type, "actor", string(e.Actor), "object", e.Object, "outcome", string(e.Outcome), "index", e.Index)
}

// loadAuditIndex finds the last raft index the audit log recorded.
func (n *Node) loadAuditIndex() error {
	var last uint64
	err := n.db.Audit(func(e store.AuditEntry) error {
		if i, err := strconv.ParseUint(e.Detail["index"], 10, 64); err == nil && i > last {
			last = i
		}
		return nil
	})
	n.auditedIndex.Store(last)
	return err
}

// BlockPeers cuts this node off from the given peers (peer id strings) and
// refuses their connections until UnblockPeers: fault injection for
// partition tests and drills. Unknown ids are ignored.
func (n *Node) BlockPeers(ids ...string) { n.cons.peers.block(true, ids...) }

// UnblockPeers undoes BlockPeers.
func (n *Node) UnblockPeers(ids ...string) { n.cons.peers.block(false, ids...) }

// Changed returns a channel closed at the node's next change of what it
// reports: a governance entry applied, a new raft leader, a key built.
// Take it before reading the state, then wait on it: no change is missed.
func (n *Node) Changed() <-chan struct{} { return n.changes.wait() }

// broadcast wakes everyone waiting at its next notify.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// PeerID is the node's libp2p peer id.
func (n *Node) PeerID() string { return n.home.PeerID.String() }

// Ready reports whether Run has started serving.
func (n *Node) Ready() bool { return n.ready.Load() }

// SignContractApproval signs, outside any daemon, an approval of a
// contract version with a board member's own governance key file (PKCS#8
// PEM), for `cxnet contract approve --key FILE`. The key must be the one
// the consortium knows for org.
func SignContractApproval(keyPEM []byte, org, consortiumID, id string, version int, hash string) ([]byte, error) {
	key, err := home.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	return contracts.Sign(contracts.EntryContractApprove,
		contracts.ContractApprove{ID: kpi.ContractID(id), Version: version, Hash: hash},
		kpi.OrgID(org), key, consortiumID)
}
