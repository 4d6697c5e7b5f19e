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
	"strings"
	"sync/atomic"
	"time"

	"github.com/cxnet/cxnet/node/client"
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

	db      *store.DB
	gcNow   chan struct{} // asks for a value-log GC soon (after a refused import)
	ready   atomic.Bool
	started time.Time
	apiAddr string
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
	n.started = time.Now()
	db, err := store.Open(store.Config{
		Dir:           filepath.Join(n.home.Dir, dataDir),
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

	srv := &http.Server{
		Handler:           n.routes(),
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
