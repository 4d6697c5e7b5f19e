// Package rounds is a node's part in the consortium's KPI rounds (DESIGN
// §5), safe against one member that deviates: the aggregator's side of a
// round this node opens (Manager.Run), and a member's side, what it
// answers a round's aggregator over /cxnet/round (Manager.Serve). The
// node that opens a round aggregates it:
//
//  1. it opens the round in the log (round.open);
//  2. commit: it asks every participant to commit to its input. The
//     participant computes its components over its own records, adds its
//     share of DP noise (if any) and a secret uniform 64-bit pad to every
//     component, encrypts one vector — the cells' counts, which cells
//     it feeds, the padded components — under the consortium's key,
//     keeps it, and answers its signed commitment to the digest (a
//     round.input entry). No ciphertext leaves it yet;
//  3. seal: the aggregator seals the round (round.seal), carrying every
//     commitment it got — one log entry; the state machine checks and
//     registers them, then fixes the inputs — every input registered, no
//     other — or fails the round when the privacy rules refuse that set;
//  4. fetch: only now does each sealed participant hand its ciphertexts
//     to the aggregator, so no input can be chosen after seeing another;
//  5. print, decrypt: the aggregator sums the inputs and asks every
//     sealed participant for its input's fingerprint against the sum
//     (privacy/fingerprint.go), signed; a threshold set of key members
//     each check, by those fingerprints, that the sum is the sum of
//     exactly the sealed inputs, and give one decryption share of it
//     (kept, and given again unchanged), signed;
//  6. print, attest: the aggregator sums the shares and asks each
//     decryptor for its share's fingerprint against that sum; each
//     decryptor checks the shares' sum by the fingerprints, opens the
//     counts and the padded sums with it itself, decides which cells
//     reach the floor and signs what it opened (kpi.Opened);
//  7. pads: each sealed participant checks the decryptors' signatures and
//     the floor, and reveals its pads of the kept cells only, signed:
//     the padded sum of a cell under the floor stays uniformly random.
//     Without readers, the aggregator sums the pads and each participant
//     signs its pads' fingerprint against the sum (contracts/padsum.go);
//  8. release: the aggregator publishes the signed attestations and pads
//     (round.release), and every node's state machine computes the
//     released cells from them itself.
//
// A failure at any step is recorded in the log (round.fail) with the
// reason, naming the member that failed or deviated when it is known.
//
// It gets what it needs from the node as narrow functions (Config): read
// the state, sign and submit an entry, sync with the leader, the store of
// its secrets, the consortium's public key, this node's own components of
// a contract, the libp2p host it calls members over. It imports no other
// part of the node but the API client's types; node wires it.
package rounds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/protocol/rpc"
)

// Secrets keeps a node's secrets by key epoch (store.DB). A missing one
// is store.ErrNoSecret.
type Secrets interface {
	Secret(epoch uint64, name string) ([]byte, error)
	PutSecret(epoch uint64, name string, value []byte) error
	SecretNames(epoch uint64, prefix string) ([]string, error)
	DeleteNamedSecrets(epoch uint64, names ...string) error
}

// Config is what the rounds need from the node.
type Config struct {
	Org kpi.OrgID
	// Params are the homomorphic parameters; default
	// privacy.DefaultParams().
	Params privacy.Params
	// State reads the governance state (contracts.FSM.Read).
	State func(func(*contracts.State))
	// Sign signs a governance entry with this node's governance key;
	// Submit puts it in the log, through the raft leader. Sync waits
	// until this node applied everything the leader committed.
	Sign   func(t contracts.EntryType, body any) ([]byte, error)
	Submit func(ctx context.Context, entry []byte) (contracts.Event, error)
	Sync   func(ctx context.Context) error
	// SignRound signs what this member says of a round (a fingerprint, a
	// share, an attestation, pads) with its governance key
	// (contracts.RoundSigner).
	SignRound func(msg []byte) []byte
	// Secrets keeps what this node keeps of a round; ThresholdKey loads
	// this node's threshold key of an epoch (privacy.ThresholdKey,
	// marshalled: the key manager's).
	Secrets      Secrets
	ThresholdKey func(epoch uint64) ([]byte, error)
	// PublicKey is the consortium's collective public key of an epoch
	// (the key manager's).
	PublicKey func(e contracts.KeyEpoch) (*privacy.PublicKey, error)
	// Components computes a contract's components over this node's own
	// records, and how many records it scanned.
	Components func(ctx context.Context, c *contracts.Contract) ([]int64, int64, error)
	// Host is the node's current libp2p host, which calls the members
	// over /cxnet/round.
	Host func() host.Host
	// Timeout bounds a round this node aggregates (round.timeout), and
	// how long a round may stay open before its members fail it.
	Timeout time.Duration
	// Context is the node's running context, which ends when it stops;
	// default context.Background.
	Context func() context.Context
	// OnRequest, when set, counts a round request this node answered, by
	// operation and outcome (served, refused).
	OnRequest func(op round.Op, outcome string)
	// Now is the clock; default time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Manager runs this node's part of the rounds: it aggregates the rounds
// this node opens and answers the aggregators of the others.
type Manager struct {
	cfg Config
	log *slog.Logger
	// guard serialises and limits the round protocol on this node.
	guard roundGuard
	// deviate makes the node deviate from the protocol (adversarial
	// tests only: Deviate).
	deviate atomic.Pointer[Deviations]
}

// New returns the rounds of a node; it does no I/O.
func New(cfg Config) (*Manager, error) {
	var errs []error
	for name, missing := range map[string]bool{"State": cfg.State == nil, "Sign": cfg.Sign == nil, "Submit": cfg.Submit == nil,
		"Sync": cfg.Sync == nil, "SignRound": cfg.SignRound == nil, "Secrets": cfg.Secrets == nil,
		"ThresholdKey": cfg.ThresholdKey == nil, "PublicKey": cfg.PublicKey == nil, "Components": cfg.Components == nil, "Host": cfg.Host == nil} {
		if missing {
			errs = append(errs, fmt.Errorf("rounds: config: %s is required", name))
		}
	}
	if cfg.Org == "" {
		errs = append(errs, errors.New("rounds: config: Org is required"))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("rounds: config: Timeout is %v; a round needs a positive timeout (round.timeout)", cfg.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if reflect.ValueOf(cfg.Params).IsZero() {
		cfg.Params = privacy.DefaultParams()
	}
	if cfg.Context == nil {
		cfg.Context = context.Background
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Log}
	m.guard.now = cfg.Now
	return m, nil
}

var _ round.Backend = roundBackend{}

// Serve registers /cxnet/round on h: the members' requests, authorised
// before a byte of them is read (roundSender), answered after checking
// each against this node's state.
func (m *Manager) Serve(h host.Host) *rpc.Server {
	return round.Serve(h, m.roundServer(), round.Options{Authorize: m.roundSender, Limits: roundLimits, Log: m.log})
}

// Opened records that this node saw round id open: the round's timeout
// runs from here (FailStale).
func (m *Manager) Opened(id string) { m.guard.firstSeen(id, m.cfg.Now()) }
