// Package keymgr is a node's key manager: its part in the consortium's
// key epochs (contracts/keys.go, privacy/keys.go). It reacts to the
// governance state:
//
//   - on the raft leader, when the admitted members differ from those of
//     every key epoch, it opens a new epoch;
//   - for an epoch this node is a member of, it draws and stores its
//     secret key share, publishes its public-key share through the log,
//     deals Shamir shares of its secret to every other member over
//     /cxnet/keys (authenticated, encrypted streams) and combines the
//     shares it was dealt into its threshold key;
//   - once an epoch is keyed, it builds the collective public key and
//     drops the secrets of older epochs.
//
// Every step is idempotent and resumes after a restart: secrets are
// stored (synced) before anything derived from them leaves the node, so a
// node never deals two different polynomials for one epoch.
//
// It gets what it needs from the node as narrow functions (Config): read
// the state, sign and submit an entry, whether this node leads raft and
// which peers are raft's servers, the host it deals over, the store of
// its secrets. It imports no other part of the node; node wires it.
package keymgr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/store"
)

// Names of an epoch's secrets in the store.
const (
	secretSK      = "sk"      // this node's secret key share
	secretPKShare = "pkshare" // its public-key share, committed to before it is revealed
	secretDealt   = "deal/"   // + recipient org: the Shamir share dealt to it
	secretSent    = "sent/"   // + recipient org: it acknowledged its share (empty value)
	secretFrom    = "from/"   // + dealer org: the Shamir share it dealt this node
	secretTKey    = SecretThresholdKey
	dealTimeout   = 10 * time.Second
)

// SecretThresholdKey names this node's threshold key of an epoch among
// its secrets (privacy.ThresholdKey.MarshalBinary): what a decryptor of
// a round uses.
const SecretThresholdKey = "tkey"

// Secrets keeps a node's secrets by key epoch (store.DB). A missing one
// is store.ErrNoSecret.
type Secrets interface {
	Secret(epoch uint64, name string) ([]byte, error)
	PutSecret(epoch uint64, name string, value []byte) error
	// DeleteEpochsBefore drops the secrets of the epochs before before.
	DeleteEpochsBefore(before uint64) error
}

// Config is what the key manager needs from the node.
type Config struct {
	Org kpi.OrgID
	// Params are the homomorphic parameters; default
	// privacy.DefaultParams().
	Params privacy.Params
	// State reads the governance state (contracts.FSM.Read).
	State func(func(*contracts.State))
	// Sign signs a governance entry with this node's governance key;
	// Submit puts it in the log, through the raft leader.
	Sign   func(t contracts.EntryType, body any) ([]byte, error)
	Submit func(ctx context.Context, entry []byte) (contracts.Event, error)
	// Leads reports whether this node leads raft; InRaft whether peer
	// (a peer id) is a server of raft's configuration.
	Leads  func() bool
	InRaft func(peer string) bool
	// Host is the node's current libp2p host, which deals over
	// /cxnet/keys.
	Host    func() host.Host
	Secrets Secrets
	// ReaderKey opens results sealed to this organisation; nil draws one
	// (a node without a home on disk: tests).
	ReaderKey *privacy.ReaderKey
	// Interval is how often Run retries what failed. Default 2s.
	Interval time.Duration
	// OnChange, when set, is called when the manager built a key (the
	// collective public key, this node's threshold key): Info changed.
	OnChange func()
	// KeyShare, when set, replaces the public-key share this node
	// commits to and publishes (adversarial tests only).
	KeyShare func(e contracts.KeyEpoch, share []byte) []byte
	Log      *slog.Logger
}

// Manager runs this node's part of the key epochs.
type Manager struct {
	cfg  Config
	org  kpi.OrgID
	log  *slog.Logger
	wake chan struct{}

	mu      sync.Mutex
	pk      *privacy.PublicKey // the collective key of epoch pkEpoch
	pkEpoch uint64
	rk      *privacy.ReaderKey
	warned  map[string]bool // problems already logged, by text
}

// New returns a key manager; it does no I/O. Run runs it.
func New(cfg Config) (*Manager, error) {
	var errs []error
	for name, missing := range map[string]bool{"State": cfg.State == nil, "Sign": cfg.Sign == nil, "Submit": cfg.Submit == nil,
		"Leads": cfg.Leads == nil, "InRaft": cfg.InRaft == nil, "Host": cfg.Host == nil, "Secrets": cfg.Secrets == nil} {
		if missing {
			errs = append(errs, fmt.Errorf("keymgr: config: %s is required", name))
		}
	}
	if cfg.Org == "" {
		errs = append(errs, errors.New("keymgr: config: Org is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if reflect.ValueOf(cfg.Params).IsZero() {
		cfg.Params = privacy.DefaultParams()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func() {}
	}
	rk := cfg.ReaderKey
	if rk == nil {
		var err error
		if rk, err = privacy.NewReaderKey(); err != nil {
			return nil, err
		}
	}
	return &Manager{cfg: cfg, org: cfg.Org, log: cfg.Log, rk: rk, wake: make(chan struct{}, 1), warned: map[string]bool{}}, nil
}

// Poke makes the manager look at the state again soon: the node calls it
// on every governance event and when raft's servers change.
func (k *Manager) Poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// Run steps the manager when poked and every Interval (to retry what
// failed), until ctx ends.
func (k *Manager) Run(ctx context.Context) {
	t := time.NewTicker(k.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
		case <-t.C:
		}
		k.step(ctx)
	}
}

// step does whatever the state asks of this node now.
func (k *Manager) step(ctx context.Context) {
	var (
		exists, needs, hasPending, hasKeys bool
		pending, keys                      contracts.KeyEpoch
		next                               uint64
		admitted                           []kpi.OrgID
		peers                              []string
	)
	k.cfg.State(func(s *contracts.State) {
		_, exists = s.Consortium()
		needs, next = s.NeedsKeyEpoch(), s.NextKeyEpoch()
		pending, hasPending = s.PendingKeys()
		keys, hasKeys = s.Keys()
		for _, m := range s.Members() {
			if m.State == contracts.MemberAdmitted {
				admitted = append(admitted, m.Member.Org)
				peers = append(peers, m.Member.PeerID)
			}
		}
	})
	if !exists || ctx.Err() != nil {
		return
	}
	if needs && k.cfg.Leads() && k.allJoined(peers) {
		k.open(ctx, next, admitted)
	}
	if hasKeys {
		if _, member := keys.Point(k.org); member {
			k.usePublicKey(keys)
			k.deal(ctx, keys)
		}
	}
	if hasPending {
		if _, member := pending.Point(k.org); member {
			k.share(ctx, pending)
		}
	}
}

// allJoined reports whether every admitted member's node has joined raft:
// an epoch opened before a member's node runs would wait for it (and be
// replaced by the next admission anyway).
func (k *Manager) allJoined(peers []string) bool {
	for _, p := range peers {
		if !k.cfg.InRaft(p) {
			return false
		}
	}
	return true
}

// warnOnce logs a problem the first time it happens (they recur on every
// step until fixed): once per message and leading arguments, whatever the
// error ("err" last).
func (k *Manager) warnOnce(msg string, args ...any) {
	key := fmt.Sprint(append([]any{msg}, args[:len(args)-2]...)...)
	k.mu.Lock()
	seen := k.warned[key]
	k.warned[key] = true
	k.mu.Unlock()
	if !seen {
		k.log.Warn(msg, args...)
	}
}

// open opens key epoch next for the admitted members, with a fresh seed.
func (k *Manager) open(ctx context.Context, next uint64, members []kpi.OrgID) {
	slices.Sort(members)
	seed := make([]byte, privacy.SeedSize)
	_, _ = rand.Read(seed) // never fails (crypto/rand, Go 1.24+)
	entry, err := k.cfg.Sign(contracts.EntryKeysOpen, contracts.KeysOpen{Epoch: next, Members: members,
		Threshold: contracts.DefaultThreshold(len(members)), Seed: hex.EncodeToString(seed), Params: k.cfg.Params.Name()})
	if err == nil {
		_, err = k.cfg.Submit(ctx, entry)
	}
	if err != nil && ctx.Err() == nil {
		k.warnOnce("open key epoch", "epoch", next, "err", err)
		return
	}
	k.log.Info("key epoch opened", "epoch", next, "members", len(members))
}

// secretKey loads this node's secret key share of epoch e, drawing and
// storing one the first time.
func (k *Manager) secretKey(e uint64) (*privacy.SecretKey, error) {
	b, err := k.cfg.Secrets.Secret(e, secretSK)
	if err == nil {
		return privacy.UnmarshalSecretKey(k.cfg.Params, b)
	}
	if !errors.Is(err, store.ErrNoSecret) {
		return nil, err
	}
	sk, err := privacy.NewSecretKey(k.cfg.Params)
	if err != nil {
		return nil, err
	}
	if b, err = sk.MarshalBinary(); err != nil {
		return nil, err
	}
	if err := k.cfg.Secrets.PutSecret(e, secretSK, b); err != nil {
		return nil, err
	}
	return sk, nil
}

// share takes this node's part in the epoch collecting shares: it
// commits to its public-key share, then, once every member has committed,
// reveals it (contracts/keys.go: commit before reveal). Each step is
// skipped when the log has it already.
func (k *Manager) share(ctx context.Context, e contracts.KeyEpoch) {
	if _, done := e.Shares[k.org]; done {
		return
	}
	_, committed := e.Commits[k.org]
	if committed && !e.Committed() {
		return // waiting for the others' commitments
	}
	if e.Params != k.cfg.Params.Name() {
		k.warnOnce("key epoch uses other homomorphic parameters than this node; upgrade it to take part",
			"epoch", e.Epoch, "params", e.Params, "err", "this node uses "+k.cfg.Params.Name())
		return
	}
	seed, _ := hex.DecodeString(e.Seed) // checked by Apply
	sk, err := k.secretKey(e.Epoch)
	if err != nil {
		k.warnOnce("key epoch secret key", "epoch", e.Epoch, "err", err)
		return
	}
	pub, err := k.publicKeyShare(e.Epoch, sk, seed)
	if err != nil {
		k.warnOnce("public-key share", "epoch", e.Epoch, "err", err)
		return
	}
	if f := k.cfg.KeyShare; f != nil {
		pub = f(e, pub)
	}
	step, entry := "commit to", []byte(nil)
	if !committed {
		var rk *privacy.ReaderKey
		if rk, err = k.ReaderKey(); err == nil {
			entry, err = k.cfg.Sign(contracts.EntryKeysCommit, contracts.KeysCommit{Epoch: e.Epoch,
				Digest: contracts.KeyShareDigest(e.Epoch, k.org, pub), ReaderKey: rk.Public()})
		}
	} else {
		step = "publish"
		entry, err = k.cfg.Sign(contracts.EntryKeysShare, contracts.KeysShare{Epoch: e.Epoch, Share: pub})
	}
	if err == nil {
		_, err = k.cfg.Submit(ctx, entry)
	}
	if err != nil && ctx.Err() == nil {
		k.warnOnce(step+" public-key share", "epoch", e.Epoch, "err", err)
		return
	}
	k.log.Info("public-key share: "+step, "epoch", e.Epoch)
	if !committed {
		k.Poke() // the commitment may have been the last one
	}
}

// ReaderKey is this node's key for results sealed to it.
func (k *Manager) ReaderKey() (*privacy.ReaderKey, error) { return k.rk, nil }

// publicKeyShare loads this node's public-key share of epoch e, drawing
// and storing one the first time: a share carries fresh noise, so the
// one revealed must be the very one committed to.
func (k *Manager) publicKeyShare(e uint64, sk *privacy.SecretKey, seed []byte) ([]byte, error) {
	if b, err := k.cfg.Secrets.Secret(e, secretPKShare); err == nil {
		return b, nil
	} else if !errors.Is(err, store.ErrNoSecret) {
		return nil, err
	}
	pub, err := privacy.PublicKeyShare(k.cfg.Params, sk, seed)
	if err != nil {
		return nil, err
	}
	if err := k.cfg.Secrets.PutSecret(e, secretPKShare, pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// usePublicKey builds the collective public key of the keyed epoch e, and
// drops the secrets of the epochs before it.
func (k *Manager) usePublicKey(e contracts.KeyEpoch) {
	k.mu.Lock()
	have := k.pkEpoch == e.Epoch
	k.mu.Unlock()
	if have || e.Params != k.cfg.Params.Name() {
		return
	}
	// Check the key before its first use: every share is the one its
	// member committed to before any share was revealed (the state
	// machine refuses others; this node checks again for itself).
	for _, m := range e.Members {
		if contracts.KeyShareDigest(e.Epoch, m, e.Shares[m]) != e.Commits[m] {
			k.warnOnce("collective public key refused: a share does not match its commitment", "epoch", e.Epoch, "member", string(m))
			return
		}
	}
	seed, _ := hex.DecodeString(e.Seed)
	pk, err := privacy.CollectivePublicKey(k.cfg.Params, seed, e.OrderedShares())
	if err != nil {
		k.warnOnce("collective public key", "epoch", e.Epoch, "err", err)
		return
	}
	k.mu.Lock()
	k.pk, k.pkEpoch = pk, e.Epoch
	k.mu.Unlock()
	if err := k.cfg.Secrets.DeleteEpochsBefore(e.Epoch); err != nil {
		k.warnOnce("drop old key epochs", "err", err)
	}
	k.log.Info("collective public key ready", "epoch", e.Epoch, "digest", pk.Digest(), "members", len(e.Members))
	k.cfg.OnChange()
}

// Info reports the consortium's key as this node knows it, nil when no
// epoch exists.
func (k *Manager) Info() *client.Keys {
	var keys, pending contracts.KeyEpoch
	var hasKeys, hasPending bool
	k.cfg.State(func(s *contracts.State) {
		keys, hasKeys = s.Keys()
		pending, hasPending = s.PendingKeys()
	})
	if !hasKeys && !hasPending {
		return nil
	}
	out := &client.Keys{Members: orgStrings(keys.Members)}
	if hasKeys {
		out.Epoch, out.Threshold = keys.Epoch, keys.Threshold
		k.mu.Lock()
		if k.pkEpoch == keys.Epoch {
			out.PublicKey = k.pk.Digest()
		}
		k.mu.Unlock()
		_, err := k.cfg.Secrets.Secret(keys.Epoch, secretTKey)
		out.ThresholdKey = err == nil
	}
	if hasPending {
		out.Pending = &client.PendingKeys{Epoch: pending.Epoch, Members: orgStrings(pending.Members), Missing: orgStrings(pending.Missing())}
	}
	return out
}

// PublicKey returns the collective key of epoch e, building it if needed.
func (k *Manager) PublicKey(e contracts.KeyEpoch) (*privacy.PublicKey, error) {
	k.usePublicKey(e)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pkEpoch != e.Epoch {
		return nil, fmt.Errorf("the collective public key of epoch %d is not built (a share may not match its commitment: see the node's log)", e.Epoch)
	}
	return k.pk, nil
}

func orgStrings(orgs []kpi.OrgID) []string {
	out := make([]string, len(orgs))
	for i, o := range orgs {
		out[i] = string(o)
	}
	return out
}
