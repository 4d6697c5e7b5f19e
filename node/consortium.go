package node

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/keymgr"
	"github.com/cxnet/cxnet/node/rounds"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/gov"
	"github.com/cxnet/cxnet/protocol/join"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/protocol/rpc"
	"github.com/cxnet/cxnet/store"
)

// consortium is the node's part in a consortium, and wires its parts: the
// libp2p host and the protocols it serves, the governance state machine,
// the raft that replicates it (raftManager), the peers it admits and
// dials (peerManager), the key manager (package keymgr) and the rounds
// (package rounds). Each part gets what it needs of the others as
// functions; none points back here.
type consortium struct {
	home *Home
	cfg  Config
	log  *slog.Logger
	db   *store.DB
	// comps are contracts' components over the node's own records,
	// kept until an import.
	comps *components

	fsm   *contracts.FSM
	host  *protocol.Host
	raft  *raftManager
	peers *peerManager
	keys  *keymgr.Manager
	// params are the homomorphic parameters of this node.
	params  privacy.Params
	metrics *metrics // nil in handler tests
	srvs    []*rpc.Server

	rounds *rounds.Manager // this node's part in the KPI rounds
	// keyShare, when set, replaces the public-key share this node commits
	// to and publishes (adversarial tests only: export_test.go).
	keyShare atomic.Pointer[func(e contracts.KeyEpoch, share []byte) []byte]

	ctx    context.Context // ends when stop begins
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newConsortium wires a consortium's parts; it does no I/O.
// onEvent gets every governance event, onChange every change of what the
// node reports (an entry applied, a new raft leader, a key built).
func newConsortium(home *Home, cfg Config, db *store.DB, log *slog.Logger, onEvent func(contracts.Event), onChange func()) (*consortium, error) {
	fsm := contracts.NewFSM()
	c := &consortium{home: home, cfg: cfg, db: db, comps: newComponents(db), log: log, fsm: fsm, params: privacy.DefaultParams(),
		peers: newPeerManager(log, fsm, db.RaftLog())}
	c.raft = &raftManager{cfg: cfg.Raft, now: cfg.Now, log: log, fsm: fsm, logs: db.RaftLog(), dir: filepath.Join(home.Dir, "raft"),
		inRaft: c.peers.inRaft, admitted: c.peers.admitted,
		onServers: func(ids []peer.ID) { c.peers.know(ids...) }, onChange: onChange,
		onAdded: func(p peer.ID) {
			c.peers.know(p)
			c.keys.Poke() // every member may have joined now: time for a key epoch
		}}
	c.peers.servers = c.raft.servers
	c.raft.nudger = newCommitNudger(c.raft.get)
	var err error
	if c.keys, err = c.newKeys(); err != nil {
		return nil, err
	}
	if c.rounds, err = c.newRounds(); err != nil {
		return nil, err
	}
	fsm.OnEvent = func(e contracts.Event) {
		onEvent(e)
		c.peers.learnMembers()
		c.keys.Poke()
		if e.Type == contracts.EventRoundOpened {
			c.rounds.Opened(e.Object) // the round timeout runs from here
		}
		onChange()
	}
	fsm.OnSettled = c.raft.applied.notify
	return c, nil
}

// newKeys is the node's key manager, given what it needs of the node.
func (c *consortium) newKeys() (*keymgr.Manager, error) {
	return keymgr.New(keymgr.Config{
		Org: kpi.OrgID(c.cfg.Org), Params: c.params, State: c.fsm.Read, Sign: c.sign, Submit: c.submit,
		Leads: c.raft.leads, InRaft: func(p string) bool {
			voters, nonvoters := c.raft.servers()
			return voters[p] || nonvoters[p]
		},
		Host:    func() host.Host { return c.host.Raw() },
		Secrets: c.db, ReaderKey: c.home.ReaderKey, Interval: c.cfg.Loops.Keys,
		KeyShare: func(e contracts.KeyEpoch, share []byte) []byte {
			if f := c.keyShare.Load(); f != nil {
				return (*f)(e, share)
			}
			return share
		},
		OnChange: c.raft.onChange, Log: c.log.With("component", "keys"),
	})
}

// newRounds is the node's part in the rounds, given what it needs of the
// node.
func (c *consortium) newRounds() (*rounds.Manager, error) {
	return rounds.New(rounds.Config{
		Org: kpi.OrgID(c.cfg.Org), Params: c.params, State: c.fsm.Read, Sign: c.sign, Submit: c.submit,
		Sync: c.sync, SignRound: contracts.RoundSigner(c.home.GovernanceKey), Secrets: c.db,
		ThresholdKey: func(epoch uint64) ([]byte, error) { return c.db.Secret(epoch, keymgr.SecretThresholdKey) },
		PublicKey:    func(e contracts.KeyEpoch) (*privacy.PublicKey, error) { return c.keys.PublicKey(e) },
		Components: func(ctx context.Context, ct *contracts.Contract) ([]int64, int64, error) {
			return c.comps.of(ctx, ct)
		},
		Host:    func() host.Host { return c.host.Raw() },
		Timeout: c.cfg.Round.Timeout,
		Context: func() context.Context {
			if c.ctx == nil {
				return context.Background() // not started: handler tests
			}
			return c.ctx
		},
		OnRequest: func(op round.Op, outcome string) {
			if c.metrics != nil {
				c.metrics.roundRequests.WithLabelValues(string(op), outcome).Inc()
			}
		},
		Now: c.cfg.Now, Log: c.log,
	})
}

// start opens the libp2p host, serves the node's protocols, starts raft
// when the store holds raft state, and runs the node's loops.
func (c *consortium) start(ctx context.Context) error {
	c.ctx, c.cancel = context.WithCancel(ctx)
	existing, err := c.raft.open()
	if err != nil {
		return err
	}
	if err := c.startHost(); err != nil {
		return err
	}
	if existing {
		if err := c.raft.start(nil); err != nil {
			return err
		}
		c.peers.seedPeers()
	}
	loops := c.cfg.Loops
	c.wg.Go(func() { c.keys.Run(c.ctx) })
	c.wg.Go(func() { c.raft.nudger.run(c.ctx) })
	c.wg.Go(func() { every(c.ctx, loops.Voters, c.raft.manageVoters) })
	c.wg.Go(func() { every(c.ctx, loops.Dial, func() { c.peers.connectMembers(c.ctx) }) })
	seen := map[kpi.ContractID]time.Time{} // when this node first saw each scheduled contract active
	c.wg.Go(func() { every(c.ctx, loops.Schedule, func() { c.tendRounds(c.ctx, seen) }) })
	c.wg.Go(func() {
		every(c.ctx, loops.StaleRounds, func() {
			if c.getRaft() != nil { // in a consortium
				c.rounds.FailStale(c.ctx, c.cfg.Now())
			}
		})
	})
	return nil
}

// every calls fn now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startHost opens the libp2p host and serves the node's protocols on it.
func (c *consortium) startHost() error {
	psk, err := c.home.PSK()
	if err != nil {
		return err
	}
	h, err := protocol.NewHost(protocol.HostConfig{
		Key: c.home.NodeKey, Listen: c.cfg.Listen, Announce: c.cfg.Announce, PSK: psk,
		Members: protocol.MembersFunc(c.peers.allowed), Bandwidth: c.metrics.bandwidth(), Underlay: c.cfg.Underlay,
	}, c.log.With("component", "libp2p"))
	if err != nil {
		return err
	}
	joinSrv, err := join.NewServer(joinBackend{c}, join.ServerConfig{Allowed: c.peers.allowed, Log: c.log})
	if err != nil {
		h.Close()
		return err
	}
	govSrv, err := gov.NewServer(govBackend{c.raft}, gov.ServerConfig{Allowed: c.peers.inRaft, Log: c.log})
	if err != nil {
		h.Close()
		return err
	}
	c.host, c.peers.host, c.raft.host = h, h, h
	c.srvs = []*rpc.Server{
		joinSrv.Serve(h.Raw()),
		govSrv.Serve(h.Raw()),
		c.keys.Serve(h.Raw(), c.peers.admitted),
		c.rounds.Serve(h.Raw()),
	}
	return nil
}

// usePSK stores the consortium's private-network key and restarts the
// host with it. Only before raft runs (consortium create or join).
func (c *consortium) usePSK(psk []byte) error {
	if c.getRaft() != nil {
		return inputError{"the private-network key can only be set before the node creates or joins a consortium"}
	}
	if err := c.home.SetPSK(psk); err != nil {
		return err
	}
	for _, s := range c.srvs {
		s.Close()
	}
	c.host.Close()
	return c.startHost()
}

// stop shuts raft, the loops, the protocols and the host down, in that
// order.
func (c *consortium) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.raft.stop()
	c.wg.Wait()
	for _, s := range c.srvs {
		s.Close()
	}
	if c.host != nil {
		c.host.Close()
	}
}

// getRaft, submit and sync are the raft manager's, for the rounds.
func (c *consortium) getRaft() *raft.Raft { return c.raft.get() }

func (c *consortium) submit(ctx context.Context, e []byte) (contracts.Event, error) {
	return c.raft.submit(ctx, e)
}

func (c *consortium) sync(ctx context.Context) error { return c.raft.sync(ctx) }

// sign signs a governance entry with this node's governance key.
func (c *consortium) sign(t contracts.EntryType, body any) ([]byte, error) {
	return contracts.Sign(t, body, kpi.OrgID(c.cfg.Org), c.home.GovernanceKey, c.consortiumID())
}

// consortiumID is the genesis hash entries are signed under ("" before
// the genesis).
func (c *consortium) consortiumID() string {
	id := ""
	c.fsm.Read(func(s *contracts.State) { id = s.ID() })
	return id
}

// identity is this node's member descriptor, signed with its governance
// key.
func (c *consortium) identity() kpi.Member {
	m := kpi.Member{Org: kpi.OrgID(c.cfg.Org), Name: c.cfg.Name, Kind: c.cfg.Kind, PeerID: c.host.ID().String()}
	for _, a := range c.host.Addrs() {
		m.Addrs = append(m.Addrs, a.String())
	}
	m.Sign(c.home.GovernanceKey)
	return m
}
