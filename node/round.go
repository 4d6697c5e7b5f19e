package node

// KPI rounds (DESIGN §5), safe against one member that deviates. The node
// that opens a round aggregates it:
//
//  1. it opens the round in the log (round.open);
//  2. commit: it asks every participant to commit to its input. The
//     participant computes its components over its own records, adds its
//     share of DP noise (if any) and a secret uniform 64-bit pad to every
//     component, encrypts the cells' counts and the padded components
//     under the consortium's key, keeps them, and registers their digest
//     in the log (round.input). No ciphertext leaves it yet;
//  3. seal: the aggregator seals the round (round.seal); the state
//     machine fixes the inputs — every input registered, no other — or
//     fails the round when the privacy rules refuse that set;
//  4. fetch: only now does each sealed participant hand its ciphertexts
//     to the aggregator, so no input can be chosen after seeing another;
//  5. decrypt: a threshold set of key members each check the inputs
//     against the sealed digests, sum them and give one decryption share
//     of the sums (kept, and given again unchanged), signed;
//  6. attest: each of them gets every signed share, opens the counts and
//     the padded sums itself, decides which cells reach the floor and
//     signs what it opened (kpi.Opened);
//  7. pads: each sealed participant checks the decryptors' signatures and
//     the floor, and reveals its pads of the kept cells only, signed:
//     the padded sum of a cell under the floor stays uniformly random;
//  8. release: the aggregator publishes the signed attestations and pads
//     (round.release), and every node's state machine computes the
//     released cells from them itself.
//
// A failure at any step is recorded in the log (round.fail) with the
// reason, naming the member that failed or deviated when it is known.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/protocol/rpc"
	"github.com/cxnet/cxnet/store"
)

// roundLimits bound /cxnet/round exchanges: a decryption request carries
// every input of the round.
var roundLimits = rpc.Limits{MaxMsgSize: 64 << 20, Timeout: 2 * time.Minute}

// inputDigest is what a participant registers in the log for its input.
// It covers the ciphertexts only, so an input replayed into another round
// has the same digest, and the state machine refuses it.
func inputDigest(in *round.Input) string {
	h := sha256.New()
	h.Write([]byte("cxnet/round-input/v2\x00"))
	for _, v := range [][][]byte{in.Counts, in.Values} {
		fmt.Fprintf(h, "%d\x00", len(v))
		for _, b := range v {
			fmt.Fprintf(h, "%d\x00", len(b))
			h.Write(b)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// keptInput is what a participant keeps of its input: the ciphertexts and
// the pads, which it reveals only for the cells that reach the floor.
type keptInput struct {
	round.Input
	Pads []uint64 `json:"pads"`
}

// shareBytes is what a decryptor signs with its share.
func shareBytes(consortiumID, id string, active []kpi.OrgID, s *round.Share) []byte {
	h := sha256.New()
	b, _ := json.Marshal(struct {
		Active []kpi.OrgID         `json:"active"`
		Counts privacy.Ciphertexts `json:"counts"`
		Values privacy.Ciphertexts `json:"values"`
	}{active, s.Counts, s.Values})
	h.Write(b)
	return []byte("cxnet/round-share/v1\x00" + consortiumID + "\x00" + id + "\x00" + hex.EncodeToString(h.Sum(nil)))
}

// keptShare is what a decryptor keeps of a round: the set it decrypted
// for and its share (secret "share"), and the sums it decrypted (secret
// "sums").
type keptShare struct {
	Active []kpi.OrgID `json:"active"`
	Share  round.Share `json:"share"`
	keptSums
}

type keptSums struct {
	Counts privacy.Ciphertexts `json:"counts"`
	Values privacy.Ciphertexts `json:"values"`
}

// roundView is what a node checks a round against: its own state.
type roundView struct {
	round    contracts.Round
	contract *contracts.Contract
	keys     contracts.KeyEpoch
	cid      string // the consortium's id
}

// roundView reads round id from this node's state and checks it may take
// part: the round is in state want, its contract active at the round's
// version, and the round's key epoch is the consortium's key.
func (c *consortium) roundView(id string, want contracts.RoundState) (*roundView, error) {
	var (
		v      roundView
		ok, hk bool
		rec    contracts.ContractRecord
		hasRec bool
	)
	c.fsm.Read(func(s *contracts.State) {
		v.round, ok = s.Round(id)
		v.keys, hk = s.Keys()
		rec, hasRec = s.Contract(v.round.Contract)
		v.cid = s.ID()
	})
	switch {
	case !ok:
		return nil, fmt.Errorf("there is no round %q", id)
	case v.round.State != want:
		what := string(v.round.State)
		if v.round.Reason != "" {
			what += ": " + v.round.Reason
		}
		return nil, fmt.Errorf("round %s is %s, not %s", id, what, want)
	case !hasRec || rec.State != contracts.ContractActive || rec.Version != v.round.Version || rec.Hash != v.round.Hash:
		return nil, fmt.Errorf("round %s: contract %s v%d is no longer active at that version", id, v.round.Contract, v.round.Version)
	case !hk || v.keys.Epoch != v.round.Epoch:
		return nil, fmt.Errorf("round %s: key epoch %d is no longer the consortium's key", id, v.round.Epoch)
	}
	var err error
	if v.contract, err = rec.Contract(); err != nil {
		return nil, err
	}
	if eps := v.contract.Privacy.Epsilon; eps.Mantissa != 0 && v.round.Epsilon != eps.String() {
		return nil, fmt.Errorf("round %s spends epsilon %q, but %s's is %s", id, v.round.Epsilon, v.contract.ID, eps)
	}
	return &v, nil
}

// publicKey returns the collective key of epoch e, building it if needed.
func (k *keyManager) publicKey(e contracts.KeyEpoch) (*privacy.PublicKey, error) {
	k.usePublicKey(e)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pkEpoch != e.Epoch {
		return nil, fmt.Errorf("the collective public key of epoch %d is not built (a share may not match its commitment: see the node's log)", e.Epoch)
	}
	return k.pk, nil
}

// roundSender authorises a /cxnet/round stream before a byte of it is
// read: only the aggregator of an ongoing round sends large requests (a
// decryption request carries every input), up to roundLimits. Another
// admitted member may send a small one, up to smallRoundRequest: the
// first request of a round (commit) can arrive before this node applied
// the round's opening, and the handler checks it once synced. Anyone
// else is refused at once.
func (c *consortium) roundSender(p peer.ID) (int, error) {
	var member, aggregating bool
	c.fsm.Read(func(s *contracts.State) {
		for _, m := range s.Members() {
			if m.Member.PeerID == p.String() && m.State == contracts.MemberAdmitted {
				member, aggregating = true, s.Aggregating(m.Member.Org)
				return
			}
		}
	})
	switch {
	case aggregating:
		return roundLimits.MaxMsgSize, nil
	case member:
		return smallRoundRequest, nil
	}
	return 0, errors.New("only members send round requests")
}

// smallRoundRequest bounds a round request from a member this node does
// not know to aggregate an ongoing round.
const smallRoundRequest = 16 << 10

// roundBackend answers the round protocol for this node
// (protocol/round): every request is checked against this node's state,
// synced with the leader (sync), by serveRound, then by the step's own
// policy.
type roundBackend struct {
	c    *consortium
	sync func(context.Context) error
}

var _ round.Backend = roundBackend{}

// roundServer is this node's round backend.
func (c *consortium) roundServer() roundBackend { return roundBackend{c: c, sync: c.sync} }

func (b roundBackend) Commit(ctx context.Context, from peer.ID, req *round.Request) error {
	_, err := b.serve(ctx, from, req, func(v *roundView) (any, error) {
		if err := b.c.rounds.allow(v.round.Aggregator, v.round.ID); err != nil {
			return nil, err
		}
		return nil, b.c.commitInput(ctx, v)
	})
	return err
}

func (b roundBackend) Fetch(ctx context.Context, from peer.ID, req *round.Request) (*round.Input, error) {
	return serveAs(b, ctx, from, req, b.c.fetchInput)
}

func (b roundBackend) Decrypt(ctx context.Context, from peer.ID, req *round.Request) (*round.Share, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) (*round.Share, error) { return b.c.decryptShare(v, req) })
}

func (b roundBackend) Attest(ctx context.Context, from peer.ID, req *round.Request) ([]byte, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) ([]byte, error) { return b.c.attest(v, req) })
}

func (b roundBackend) Pads(ctx context.Context, from peer.ID, req *round.Request) (*round.Pads, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) (*round.Pads, error) { return b.c.revealPads(v, req) })
}

// serveAs is serve for a step whose reply is a T.
func serveAs[T any](b roundBackend, ctx context.Context, from peer.ID, req *round.Request, step func(*roundView) (T, error)) (T, error) {
	var zero T
	reply, err := b.serve(ctx, from, req, func(v *roundView) (any, error) { return step(v) })
	if err != nil {
		return zero, err
	}
	return reply.(T), nil
}

// serve carries out one step of a round for its aggregator: it syncs with
// the leader, checks the round is where the step needs it and the sender
// is its aggregator (the log says who that is), runs step, reports the
// aggregator when the step shows it deviated, and counts the request in
// the metrics.
func (b roundBackend) serve(ctx context.Context, from peer.ID, req *round.Request, step func(*roundView) (any, error)) (reply any, err error) {
	c := b.c
	defer func() {
		if c.metrics != nil {
			outcome := "served"
			if err != nil {
				outcome = "refused"
			}
			c.metrics.roundRequests.WithLabelValues(string(req.Op), outcome).Inc()
		}
	}()
	// Check against the leader's latest state: the round, its inputs.
	if err := b.sync(ctx); err != nil {
		return nil, err
	}
	want := contracts.RoundSealed
	if req.Op == round.OpCommit {
		want = contracts.RoundCollecting
	}
	v, err := c.roundView(req.Round, want)
	if err != nil {
		if req.Op == round.OpFetch || req.Op == round.OpDecrypt {
			var r contracts.Round
			c.fsm.Read(func(s *contracts.State) { r, _ = s.Round(req.Round) })
			if r.State == contracts.RoundCollecting && c.isAggregator(r, from) {
				// A ciphertext or a share asked for before the log fixed
				// the inputs: the input-cancellation attack.
				c.reportDeviation(&roundView{round: r}, err)
			}
		}
		return nil, err
	}
	if !c.isAggregator(v.round, from) {
		return nil, fmt.Errorf("round %s: only its aggregator %s asks for inputs and shares", req.Round, v.round.Aggregator)
	}
	reply, err = step(v)
	var dev *aggregatorDeviated
	if errors.As(err, &dev) {
		c.reportDeviation(v, err)
	}
	return reply, err
}

// aggregatorDeviated is an error that shows the round's aggregator
// deviated from the protocol: what it asked for, no honest aggregator
// asks.
type aggregatorDeviated struct{ err error }

func (e *aggregatorDeviated) Error() string { return e.err.Error() }
func (e *aggregatorDeviated) Unwrap() error { return e.err }

func deviated(err error) error {
	if err == nil {
		return nil
	}
	return &aggregatorDeviated{err}
}

// reportDeviation records in the log, once per round, that the round's
// aggregator deviated, and how: the round fails, naming it. It returns
// once the failure is in the log (or could not be recorded), so the
// aggregator's next step finds the round failed.
func (c *consortium) reportDeviation(v *roundView, err error) {
	if v.round.Aggregator == kpi.OrgID(c.cfg.Org) || !c.rounds.firstReport(v.round.ID) {
		return // an aggregator's own refusals reach it as errors
	}
	c.log.Warn("round aggregator deviated from the protocol", "round", v.round.ID, "aggregator", string(v.round.Aggregator), "err", err)
	f := &roundFailure{round: v.round.ID, blame: []kpi.OrgID{v.round.Aggregator},
		reason: fmt.Sprintf("%s refused the aggregator %s: %v", c.cfg.Org, v.round.Aggregator, err)}
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.recordFailure(ctx, f); err != nil && ctx.Err() == nil {
		c.log.Warn("record the round's failure", "round", f.round, "err", err)
	}
}

// isAggregator reports whether peer p is round r's aggregator.
func (c *consortium) isAggregator(r contracts.Round, p peer.ID) bool {
	var ok bool
	c.fsm.Read(func(s *contracts.State) {
		m, found := s.Member(r.Aggregator)
		ok = found && m.Member.PeerID == p.String()
	})
	return ok
}

// commitInput computes, encrypts and registers this participant's input
// to a round, once: asked again, it registers nothing new.
func (c *consortium) commitInput(ctx context.Context, v *roundView) error {
	org := kpi.OrgID(c.cfg.Org)
	if !slices.Contains(v.contract.Participants, org) {
		return fmt.Errorf("%s is not a participant of %s", org, v.contract.ID)
	}
	c.rounds.inputMu.Lock()
	defer c.rounds.inputMu.Unlock()
	in, err := c.keptInput(v)
	if errors.Is(err, store.ErrNoSecret) {
		in, err = c.newInput(ctx, v)
	}
	if err != nil {
		return err
	}
	if c.inputRegistered(v.round.ID, org) {
		return nil
	}
	digest := inputDigest(&in.Input)
	if d := c.dev().inputDigest; d != nil {
		digest = d(v.round.ID, digest)
	}
	entry, err := c.keys.sign(contracts.EntryRoundInput, contracts.RoundInput{Round: v.round.ID, Digest: digest})
	if err != nil {
		return err
	}
	if _, err := c.submit(ctx, entry); err != nil {
		var rej rejected
		if !errors.As(err, &rej) || !c.inputRegistered(v.round.ID, org) {
			return fmt.Errorf("register input: %w", err)
		}
	}
	c.log.Info("round input committed", "round", v.round.ID)
	return nil
}

// keptInput loads this participant's input to a round.
func (c *consortium) keptInput(v *roundView) (*keptInput, error) {
	b, err := c.db.Secret(v.round.Epoch, roundSecret(v.round.ID, "input"))
	if err != nil {
		return nil, err
	}
	var in keptInput
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

// newInput computes and stores this participant's input to a round.
func (c *consortium) newInput(ctx context.Context, v *roundView) (*keptInput, error) {
	comps, _, err := localComponents(ctx, c.db, v.contract)
	if err != nil {
		return nil, err
	}
	pk, err := c.keys.publicKey(v.keys)
	if err != nil {
		return nil, err
	}
	// Which cells this organisation has records in, before any noise:
	// summed, how many organisations feed each cell (contracts.Keep).
	contributes := contracts.Contributes(v.contract.CellCounts(comps))
	if eps := v.contract.Privacy.Epsilon; eps.Mantissa != 0 && v.contract.Sensitivity() > 0 {
		// This member's share of the round's Laplace noise: shares of the
		// fewest participants a release may sum add up to one full draw,
		// so any release has at least that much noise.
		noise := privacy.NewNoise()
		for i := range comps {
			x, err := noise.LaplaceShare(contracts.MinInputs(v.contract), v.contract.Sensitivity(), eps.Float())
			if err != nil {
				return nil, err
			}
			comps[i] += x
		}
	}
	counts := append(v.contract.CellCounts(comps), contributes...)
	in := &keptInput{Pads: make([]uint64, len(comps))}
	var buf [8]byte
	padded := make([]int64, len(comps))
	for i, x := range comps {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		in.Pads[i] = binary.LittleEndian.Uint64(buf[:])
		padded[i] = int64(uint64(x) + in.Pads[i]) // modulo 2^64
	}
	if in.Counts, err = privacy.Encrypt(c.keys.params, pk, counts); err != nil {
		return nil, err
	}
	if in.Values, err = privacy.Encrypt(c.keys.params, pk, padded); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(in)
	if err := c.db.PutSecret(v.round.Epoch, roundSecret(v.round.ID, "input"), b); err != nil {
		return nil, err
	}
	return in, nil
}

// fetchInput hands this participant's ciphertexts to the aggregator, once
// the log has sealed the round with this input in it.
func (c *consortium) fetchInput(v *roundView) (*round.Input, error) {
	org := kpi.OrgID(c.cfg.Org)
	if !slices.Contains(v.round.Sealed, org) {
		return nil, fmt.Errorf("round %s does not sum %s's input", v.round.ID, org)
	}
	in, err := c.keptInput(v)
	if err != nil {
		return nil, fmt.Errorf("round %s: this node has no input to it: %w", v.round.ID, err)
	}
	if inputDigest(&in.Input) != v.round.Inputs[org] {
		return nil, fmt.Errorf("round %s: the log holds another input of %s than this node's", v.round.ID, org)
	}
	return &in.Input, nil
}

// inputRegistered reports whether the log has org's input to a round.
func (c *consortium) inputRegistered(round string, org kpi.OrgID) bool {
	var ok bool
	c.fsm.Read(func(s *contracts.State) {
		r, _ := s.Round(round)
		_, ok = r.Inputs[org]
	})
	return ok
}

// checkInputs checks the inputs a decryption request carries against the
// log (contracts.CheckInputs): exactly the sealed inputs, each the one its
// participant registered.
func checkInputs(v *roundView, inputs map[kpi.OrgID]round.Input) error {
	digests := make(map[kpi.OrgID]string, len(inputs))
	for org, in := range inputs {
		digests[org] = inputDigest(&in)
	}
	return contracts.CheckInputs(&v.round, digests)
}

func joinOrgIDs(orgs []kpi.OrgID) string {
	s := make([]string, len(orgs))
	for i, o := range orgs {
		s[i] = string(o)
	}
	return "{" + strings.Join(s, ",") + "}"
}

// sumInputs adds the inputs' counts and values, in org order.
func sumInputs(p privacy.Params, inputs map[kpi.OrgID]round.Input) (counts, values privacy.Ciphertexts, err error) {
	var cs, vs []privacy.Ciphertexts
	for _, org := range slices.Sorted(maps.Keys(inputs)) {
		cs = append(cs, inputs[org].Counts)
		vs = append(vs, inputs[org].Values)
	}
	if counts, err = privacy.Aggregate(p, cs); err != nil {
		return nil, nil, err
	}
	values, err = privacy.Aggregate(p, vs)
	return counts, values, err
}

// activePoints checks a threshold set for this node and returns the
// members' positions in the key epoch.
func (c *consortium) activePoints(v *roundView, active []kpi.OrgID) ([]int, error) {
	org := kpi.OrgID(c.cfg.Org)
	if err := contracts.CheckDecryptors(&v.keys, active); err != nil {
		return nil, fmt.Errorf("round %s: %w", v.round.ID, err)
	}
	if !slices.Contains(active, org) {
		return nil, fmt.Errorf("round %s: %s is not in the threshold set %v", v.round.ID, org, active)
	}
	pts := make([]int, len(active))
	for i, a := range active {
		pt, _ := v.keys.Point(a)
		pts[i] = pt - 1
	}
	return pts, nil
}

// decryptShare gives this member's decryption share of a round's sums,
// after checking the policy itself. One share per round: it is stored
// before it is sent and given again unchanged; a request for another
// threshold set is refused (two shares of one ciphertext for two sets
// would give the member's key away).
func (c *consortium) decryptShare(v *roundView, req *round.Request) (*round.Share, error) {
	org := kpi.OrgID(c.cfg.Org)
	own, member := v.keys.Point(org)
	if !member {
		return nil, fmt.Errorf("%s is not a member of key epoch %d", org, v.keys.Epoch)
	}
	active, err := c.activePoints(v, req.Active)
	if err != nil {
		return nil, deviated(err)
	}
	if err := checkInputs(v, req.Inputs); err != nil {
		return nil, deviated(err)
	}
	c.rounds.shareMu.Lock()
	defer c.rounds.shareMu.Unlock()
	if kept, err := c.keptShare(v); err == nil {
		if !slices.Equal(kept.Active, req.Active) {
			return nil, fmt.Errorf("round %s: this member gave its share for another threshold set; open a new round", v.round.ID)
		}
		return &kept.Share, nil
	} else if !errors.Is(err, store.ErrNoSecret) {
		return nil, err
	}
	tkb, err := c.db.Secret(v.round.Epoch, secretTKey)
	if err != nil {
		return nil, fmt.Errorf("this node has no threshold key for epoch %d yet", v.round.Epoch)
	}
	p := c.keys.params
	tk, err := privacy.UnmarshalThresholdKey(p, tkb)
	if err != nil {
		return nil, err
	}
	counts, values, err := sumInputs(p, req.Inputs)
	if err != nil {
		return nil, err
	}
	d, err := privacy.NewDecryptor(p, tk, own-1, len(v.keys.Members), v.keys.Threshold, active)
	if err != nil {
		return nil, err
	}
	kept := keptShare{Active: slices.Clone(req.Active), keptSums: keptSums{Counts: counts, Values: values}}
	if kept.Share.Counts, err = d.Share(counts); err != nil {
		return nil, err
	}
	if kept.Share.Values, err = d.Share(values); err != nil {
		return nil, err
	}
	if f := c.dev().share; f != nil {
		f(v.round.ID, &kept.Share)
	}
	kept.Share.Sig = c.roundSign(shareBytes(v.cid, v.round.ID, req.Active, &kept.Share))
	sums, _ := json.Marshal(kept.keptSums)
	if err := c.db.PutSecret(v.round.Epoch, roundSecret(v.round.ID, "sums"), sums); err != nil {
		return nil, err
	}
	share, _ := json.Marshal(struct {
		Active []kpi.OrgID `json:"active"`
		Share  round.Share `json:"share"`
	}{kept.Active, kept.Share})
	if err := c.db.PutSecret(v.round.Epoch, roundSecret(v.round.ID, "share"), share); err != nil {
		return nil, err
	}
	c.log.Info("round decryption share given", "round", v.round.ID)
	return &kept.Share, nil
}

// keptShare loads this decryptor's share of a round, and the sums it
// decrypted.
func (c *consortium) keptShare(v *roundView) (*keptShare, error) {
	b, err := c.db.Secret(v.round.Epoch, roundSecret(v.round.ID, "share"))
	if err != nil {
		return nil, err
	}
	var kept keptShare
	if err := json.Unmarshal(b, &kept); err != nil {
		return nil, err
	}
	if b, err = c.db.Secret(v.round.Epoch, roundSecret(v.round.ID, "sums")); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &kept.keptSums); err != nil {
		return nil, err
	}
	return &kept, nil
}

// roundSign signs what this member says of a round.
func (c *consortium) roundSign(msg []byte) []byte {
	return contracts.RoundSigner(c.home.GovernanceKey)(msg)
}

// verifyShares checks every decryptor's share is signed by it, for this
// round and threshold set.
func (c *consortium) verifyShares(v *roundView, active []kpi.OrgID, shares map[kpi.OrgID]round.Share) error {
	if got := slices.Sorted(maps.Keys(shares)); !slices.Equal(got, active) {
		return fmt.Errorf("round %s: shares from %s, want one from each of %s", v.round.ID, joinOrgIDs(got), joinOrgIDs(active))
	}
	var err error
	c.fsm.Read(func(s *contracts.State) {
		for _, o := range active {
			sh := shares[o]
			if e := s.VerifyMember(o, shareBytes(v.cid, v.round.ID, active, &sh), sh.Sig); e != nil {
				err = fmt.Errorf("round %s: the share said to be %s's: %w", v.round.ID, o, e)
				return
			}
		}
	})
	return err
}

// open combines the decryptors' shares of a round's sums and returns what
// they open: the cells that reach the floor, their counts and padded
// sums.
func openShares(p privacy.Params, c *contracts.Contract, counts, values privacy.Ciphertexts, active []kpi.OrgID, shares map[kpi.OrgID]round.Share) (*kpi.Opened, error) {
	var cs, vs []privacy.Ciphertexts
	for _, o := range active {
		cs = append(cs, shares[o].Counts)
		vs = append(vs, shares[o].Values)
	}
	n := len(c.Cells())
	w := c.Width()
	// The counts vector is every cell's count, then how many
	// organisations feed it.
	openedCounts, err := privacy.Open(p, counts, cs, 2*n)
	if err != nil {
		return nil, fmt.Errorf("the counts do not open: %w", err)
	}
	sums, err := privacy.Open(p, values, vs, n*w)
	if err != nil {
		return nil, fmt.Errorf("the sums do not open: %w", err)
	}
	return contracts.Keep(c, openedCounts[:n], openedCounts[n:], sums)
}

// attest opens a round's sums from every decryptor's signed share and
// signs what they open. This decryptor's own share must be among them,
// unchanged.
func (c *consortium) attest(v *roundView, req *round.Request) ([]byte, error) {
	kept, err := c.keptShare(v)
	if err != nil {
		return nil, fmt.Errorf("round %s: this member gave no share to it", v.round.ID)
	}
	if !slices.Equal(kept.Active, req.Active) {
		return nil, fmt.Errorf("round %s: this member decrypted for the threshold set %v, not %v", v.round.ID, kept.Active, req.Active)
	}
	if err := c.verifyShares(v, req.Active, req.Shares); err != nil {
		return nil, deviated(err)
	}
	if mine := req.Shares[kpi.OrgID(c.cfg.Org)]; !slices.Equal(mine.Sig, kept.Share.Sig) {
		return nil, deviated(fmt.Errorf("round %s: the share said to be this member's is not the one it gave", v.round.ID))
	}
	opened, err := openShares(c.keys.params, v.contract, kept.Counts, kept.Values, req.Active, req.Shares)
	if err != nil {
		return nil, fmt.Errorf("round %s: %w", v.round.ID, err)
	}
	return c.roundSign(contracts.AttestBytes(v.cid, v.round.ID, v.round.Epoch, req.Active, opened)), nil
}

// revealPads reveals this participant's pads of the cells a round's
// decryptors opened above the floor, once it has checked every
// decryptor's signature over what they opened, and the floor itself.
func (c *consortium) revealPads(v *roundView, req *round.Request) (*round.Pads, error) {
	org := kpi.OrgID(c.cfg.Org)
	if !slices.Contains(v.round.Sealed, org) {
		return nil, fmt.Errorf("round %s does not sum %s's input", v.round.ID, org)
	}
	if req.Opened == nil {
		return nil, fmt.Errorf("round %s: no opened cells to reveal pads for", v.round.ID)
	}
	if err := contracts.CheckDecryptors(&v.keys, req.Active); err != nil {
		return nil, deviated(fmt.Errorf("round %s: %w", v.round.ID, err))
	}
	if err := contracts.CheckOpened(v.contract, req.Opened); err != nil {
		return nil, deviated(fmt.Errorf("round %s: %w", v.round.ID, err))
	}
	attest := contracts.AttestBytes(v.cid, v.round.ID, v.round.Epoch, req.Active, req.Opened)
	var err error
	c.fsm.Read(func(s *contracts.State) {
		for _, o := range req.Active {
			if e := s.VerifyMember(o, attest, req.Attest[o]); e != nil {
				err = fmt.Errorf("round %s: decryptor %s did not attest these opened cells: %w", v.round.ID, o, e)
				return
			}
		}
	})
	if err != nil {
		return nil, deviated(err)
	}
	in, err := c.keptInput(v)
	if err != nil {
		return nil, fmt.Errorf("round %s: this node has no input to it: %w", v.round.ID, err)
	}
	pads, err := contracts.KeptPads(v.contract, req.Opened, in.Pads)
	if err != nil {
		return nil, err
	}
	out := &contracts.SignedPads{Pads: pads}
	if len(v.contract.Readers) > 0 {
		// Only the readers can unpad: the pads are sealed to each of them.
		out.Pads, out.Sealed = nil, map[kpi.OrgID][]byte{}
		info := contracts.SealInfo(v.cid, v.round.ID, "pads", org)
		for _, r := range v.contract.Readers {
			if out.Sealed[r], err = privacy.SealTo(v.keys.ReaderKeys[r], info, pads); err != nil {
				return nil, fmt.Errorf("round %s: seal the pads to reader %s: %w", v.round.ID, r, err)
			}
		}
	}
	out.Sig = c.roundSign(contracts.PadsBytes(v.cid, v.round.ID, attest, out.Signed()))
	return &round.Pads{Pads: out.Pads, Sealed: out.Sealed, Sig: out.Sig}, nil
}

// secretRound prefixes what this node keeps of a round it takes part in,
// as secrets of the round's key epoch: "input" (its encrypted input and
// pads), "share" (its decryption share) and "sums" (the sums it
// decrypted).
const secretRound = "round/"

func roundSecret(id, what string) string { return secretRound + id + "/" + what }

// forgetEndedRounds deletes what this node kept of the rounds of the
// consortium's key epoch that ended (released or failed): the policy
// refuses every request for an ended round, so they are of no more use.
// Older epochs' go with their key. A share stored while its round ended
// is caught by the next call.
func (c *consortium) forgetEndedRounds() error {
	var keys contracts.KeyEpoch
	var ok bool
	c.fsm.Read(func(s *contracts.State) { keys, ok = s.Keys() })
	if !ok {
		return nil
	}
	names, err := c.db.SecretNames(keys.Epoch, secretRound)
	if err != nil || len(names) == 0 {
		return err
	}
	var ended []string
	c.fsm.Read(func(s *contracts.State) {
		for _, name := range names {
			// round id = contract id (no "/") + "/" + log index
			parts := strings.SplitN(strings.TrimPrefix(name, secretRound), "/", 3)
			if len(parts) < 2 {
				ended = append(ended, name)
				continue
			}
			if r, ok := s.Round(parts[0] + "/" + parts[1]); !ok || !r.State.Ongoing() {
				ended = append(ended, name)
			}
		}
	})
	if len(ended) == 0 {
		return nil
	}
	return c.db.DeleteSecret(keys.Epoch, ended...)
}

// callRound sends a round request to a member's node (or serves it
// locally when the member is this node).
func (c *consortium) callRound(ctx context.Context, org kpi.OrgID, req round.Request, out any) error {
	if org == kpi.OrgID(c.cfg.Org) {
		reply, err := round.Dispatch(ctx, c.roundServer(), c.host.ID(), &req)
		if err != nil {
			return fmt.Errorf("%s: %w", org, err)
		}
		b, _ := json.Marshal(reply) // the same reply as over the wire
		return json.Unmarshal(b, out)
	}
	var pid peer.ID
	c.fsm.Read(func(s *contracts.State) {
		if m, ok := s.Member(org); ok {
			pid, _ = peer.Decode(m.Member.PeerID)
		}
	})
	cl := round.NewClient(c.host.Raw(), roundLimits)
	if f := c.dev().tap; f != nil {
		cl.Tap = func(_ peer.ID, req, reply []byte) { f(org, req, reply) }
	}
	if err := cl.Call(ctx, pid, &req, out); err != nil {
		return fmt.Errorf("%s: %w", org, err)
	}
	return nil
}

// fanOut calls every org in parallel; call returns its reply.
func fanOut[T any](orgs []kpi.OrgID, call func(org kpi.OrgID) (T, error)) (map[kpi.OrgID]T, map[kpi.OrgID]error) {
	var mu sync.Mutex
	out, errs := map[kpi.OrgID]T{}, map[kpi.OrgID]error{}
	var wg sync.WaitGroup
	for _, org := range orgs {
		wg.Go(func() {
			r, err := call(org)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[org] = err
				return
			}
			out[org] = r
		})
	}
	wg.Wait()
	return out, errs
}

// roundFailure is a round that failed, as runRound reports it: the
// reason is recorded in the log.
type roundFailure struct {
	round  string
	reason string
	blame  []kpi.OrgID
}

func (f *roundFailure) Error() string { return "round " + f.round + " failed: " + f.reason }

// describe lists the members that failed and why, sorted.
func describe(errs map[kpi.OrgID]error) (string, []kpi.OrgID) {
	orgs := slices.Sorted(maps.Keys(errs))
	parts := make([]string, len(orgs))
	for i, o := range orgs {
		parts[i] = errs[o].Error()
	}
	return strings.Join(parts, "; "), orgs
}

// runRound opens a round of contract id, aggregates it and publishes its
// release. It returns the round id. A round that fails is recorded as
// failed in the log, with the reason.
func (c *consortium) runRound(ctx context.Context, id kpi.ContractID) (string, *roundTrace, error) {
	var (
		rec  contracts.ContractRecord
		keys contracts.KeyEpoch
		ok   bool
	)
	c.fsm.Read(func(s *contracts.State) {
		rec, ok = s.Contract(id)
		keys, _ = s.Keys()
	})
	if !ok {
		return "", nil, inputError{fmt.Sprintf("no contract %q in this consortium: see `cxnet contract list`", id)}
	}
	if rec.State != contracts.ContractActive {
		return "", nil, inputError{fmt.Sprintf("%s v%d is %s; a round needs an active contract (approved, and the consortium's key covering its participants: see `cxnet status`)", id, rec.Version, rec.State)}
	}
	timeout := c.cfg.Round.Timeout
	if timeout <= 0 {
		timeout = DefaultRoundTimeout
	}
	tr := newRoundTrace()
	tr.step("open (raft commit)")
	entry, err := c.keys.sign(contracts.EntryRoundOpen, contracts.RoundOpen{Contract: id, Version: rec.Version, Hash: rec.Hash, Epoch: keys.Epoch})
	if err != nil {
		return "", nil, err
	}
	ev, err := c.submit(ctx, entry)
	if err != nil {
		return "", nil, err
	}
	roundID := ev.Object
	c.rounds.running(roundID, true)
	defer c.rounds.running(roundID, false)
	log := c.log.With("round", roundID)
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = c.aggregate(actx, roundID, log, tr)
	tr.done()
	var f *roundFailure
	switch {
	case err == nil:
		log.Info("round trace", "steps", tr.String())
		return roundID, tr, nil
	case errors.As(err, &f):
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		f = &roundFailure{round: roundID, reason: fmt.Sprintf("timed out after %v (round.timeout) at step %q: %v", timeout, tr.current(), err)}
	default:
		f = &roundFailure{round: roundID, reason: fmt.Sprintf("step %q: %v", tr.current(), err)}
	}
	log.Warn("round failed", "reason", f.reason, "steps", tr.String())
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	if rerr := c.recordFailure(rctx, f); rerr != nil {
		log.Warn("record the round's failure", "err", rerr)
	}
	return roundID, tr, f
}

// failStaleRounds records as failed every ongoing round this node takes
// part in whose aggregator stopped answering: still ongoing round.timeout
// after this node applied its opening (members report one after another,
// half a second apart, so that usually one failure is recorded). A round this
// node aggregates is left to runRound, unless this node is not running it
// (it restarted).
func (c *consortium) failStaleRounds(ctx context.Context, now time.Time) {
	if c.getRaft() == nil {
		return
	}
	org := kpi.OrgID(c.cfg.Org)
	timeout := c.cfg.Round.Timeout
	if timeout <= 0 {
		timeout = DefaultRoundTimeout
	}
	type stale struct {
		r    contracts.Round
		rank int
	}
	var todo []stale
	c.fsm.Read(func(s *contracts.State) {
		keys, _ := s.Keys()
		for _, r := range s.Rounds("") {
			if !r.State.Ongoing() {
				continue
			}
			rec, _ := s.Contract(r.Contract)
			pt, member := keys.Point(org)
			if !member && !slices.Contains(rec.Participants, org) && r.Aggregator != org {
				continue
			}
			todo = append(todo, stale{r, pt})
		}
	})
	for _, st := range todo {
		r := st.r
		seen := c.rounds.firstSeen(r.ID, now)
		if r.Aggregator == org && c.rounds.isRunning(r.ID) {
			continue
		}
		wait := timeout + time.Duration(st.rank)*500*time.Millisecond
		if now.Sub(seen) < wait {
			continue
		}
		f := &roundFailure{round: r.ID, reason: fmt.Sprintf("aggregator %s stopped answering: the round was still %s %v after %s saw it open (round.timeout %v)",
			r.Aggregator, r.State, now.Sub(seen).Round(time.Second), org, timeout)}
		if err := c.recordFailure(ctx, f); err != nil && ctx.Err() == nil {
			c.log.Warn("record a stale round's failure", "round", r.ID, "err", err)
			continue
		}
		c.log.Warn("round failed: its aggregator stopped answering", "round", r.ID, "aggregator", string(r.Aggregator))
	}
}

// roundTrace times the steps of a round this node aggregates.
type roundTrace struct {
	start time.Time
	steps []traceStep
}

type traceStep struct {
	Name     string
	Duration time.Duration
	at       time.Time
}

func newRoundTrace() *roundTrace { return &roundTrace{start: time.Now()} }

// step ends the current step and starts the next.
func (t *roundTrace) step(name string) {
	if t == nil {
		return
	}
	t.done()
	t.steps = append(t.steps, traceStep{Name: name, at: time.Now()})
}

// done ends the current step.
func (t *roundTrace) done() {
	if t == nil || len(t.steps) == 0 {
		return
	}
	if last := &t.steps[len(t.steps)-1]; last.Duration == 0 {
		last.Duration = time.Since(last.at)
	}
}

// current names the step under way (or the last).
func (t *roundTrace) current() string {
	if t == nil || len(t.steps) == 0 {
		return ""
	}
	return t.steps[len(t.steps)-1].Name
}

// client is the trace as the API gives it: never nil, for a round this
// node ran.
func (t *roundTrace) client() []client.TraceStep {
	out := []client.TraceStep{}
	if t == nil {
		return out
	}
	for _, s := range t.steps {
		out = append(out, client.TraceStep{Step: s.Name, Seconds: s.Duration.Seconds()})
	}
	return append(out, client.TraceStep{Step: "total", Seconds: time.Since(t.start).Seconds()})
}

func (t *roundTrace) String() string {
	var b strings.Builder
	for _, s := range t.steps {
		fmt.Fprintf(&b, "%s=%v ", s.Name, s.Duration.Round(100*time.Microsecond))
	}
	fmt.Fprintf(&b, "total=%v", time.Since(t.start).Round(100*time.Microsecond))
	return b.String()
}

// recordFailure records a failed round in the log, unless it has ended.
func (c *consortium) recordFailure(ctx context.Context, f *roundFailure) error {
	var r contracts.Round
	c.fsm.Read(func(s *contracts.State) { r, _ = s.Round(f.round) })
	if !r.State.Ongoing() {
		return nil
	}
	reason := f.reason
	if len(reason) > 900 {
		reason = reason[:900] + "…"
	}
	entry, err := c.keys.sign(contracts.EntryRoundFail, contracts.RoundFail{Round: f.round, Reason: reason, Blame: f.blame})
	if err != nil {
		return err
	}
	_, err = c.submit(context.WithoutCancel(ctx), entry)
	return err
}

// aggregate runs an opened round to its release (steps 2 to 8 at the top
// of this file).
func (c *consortium) aggregate(ctx context.Context, roundID string, log *slog.Logger, tr *roundTrace) error {
	fail := func(reason string, blame ...kpi.OrgID) error {
		return &roundFailure{round: roundID, reason: reason, blame: blame}
	}
	v, err := c.roundView(roundID, contracts.RoundCollecting)
	if err != nil {
		return err
	}
	log.Info("round opened", "participants", len(v.contract.Participants))

	// 2. commit
	tr.step("commit (participants encrypt, raft commits)")
	_, errs := fanOut(v.contract.Participants, func(org kpi.OrgID) (struct{}, error) {
		var ok struct{}
		return ok, c.callRound(ctx, org, round.Request{Op: round.OpCommit, Round: roundID}, &ok)
	})
	for org, err := range errs {
		log.Warn("round input", "from", string(org), "err", err)
	}
	// 3. seal: the state machine fixes the inputs.
	tr.step("seal (raft commit)")
	if err := c.sync(ctx); err != nil {
		return err
	}
	if f := c.dev().beforeSeal; f != nil {
		f(roundID)
	}
	entry, err := c.keys.sign(contracts.EntryRoundSeal, contracts.RoundSeal{Round: roundID})
	if err != nil {
		return err
	}
	if _, err := c.submit(ctx, entry); err != nil {
		return fail("seal: " + err.Error())
	}
	if v, err = c.roundView(roundID, contracts.RoundSealed); err != nil {
		var r contracts.Round
		c.fsm.Read(func(s *contracts.State) { r, _ = s.Round(roundID) })
		if r.State == contracts.RoundFailed {
			msg := r.Reason
			if len(errs) > 0 {
				why, _ := describe(errs)
				msg += " (" + why + ")"
			}
			return &roundFailure{round: roundID, reason: msg} // recorded by the seal
		}
		return err
	}
	// 4. fetch
	tr.step("fetch")
	inputs, errs := fanOut(v.round.Sealed, func(org kpi.OrgID) (round.Input, error) {
		var in round.Input
		if err := c.callRound(ctx, org, round.Request{Op: round.OpFetch, Round: roundID}, &in); err != nil {
			return in, err
		}
		if inputDigest(&in) != v.round.Inputs[org] {
			return in, fmt.Errorf("%s sent another input than the one it registered", org)
		}
		return in, nil
	})
	if len(errs) > 0 {
		why, blame := describe(errs)
		return fail("sealed inputs missing: "+why, blame...)
	}
	if f := c.dev().inputs; f != nil {
		f(roundID, inputs)
	}
	// 5. decrypt
	tr.step("decrypt (decryptors sum and share)")
	active := c.thresholdSet(v)
	shares, errs := fanOut(active, func(org kpi.OrgID) (round.Share, error) {
		var sh round.Share
		err := c.callRound(ctx, org, round.Request{Op: round.OpDecrypt, Round: roundID, Active: active, Inputs: inputs}, &sh)
		return sh, err
	})
	if len(errs) > 0 {
		why, blame := describe(errs)
		return fail("decryption: "+why, blame...)
	}
	if err := c.verifyShares(v, active, shares); err != nil {
		return fail("decryption: " + err.Error())
	}
	if f := c.dev().shares; f != nil {
		f(roundID, shares)
	}
	// 6. attest
	tr.step("open (aggregator sums and combines)")
	counts, values, err := sumInputs(c.keys.params, inputs)
	if err != nil {
		return fail("sum the inputs: " + err.Error())
	}
	opened, err := openShares(c.keys.params, v.contract, counts, values, active, shares)
	if err != nil {
		return fail("open: " + err.Error())
	}
	tr.step("attest")
	attest := contracts.AttestBytes(v.cid, roundID, v.round.Epoch, active, opened)
	sigs, errs := fanOut(active, func(org kpi.OrgID) ([]byte, error) {
		var sig []byte
		if err := c.callRound(ctx, org, round.Request{Op: round.OpAttest, Round: roundID, Active: active, Shares: shares}, &sig); err != nil {
			return nil, err
		}
		var verr error
		c.fsm.Read(func(s *contracts.State) { verr = s.VerifyMember(org, attest, sig) })
		if verr != nil {
			return nil, fmt.Errorf("%s attests other opened cells than the aggregator's", org)
		}
		return sig, nil
	})
	if len(errs) > 0 {
		why, blame := describe(errs)
		return fail("attestation: "+why, blame...)
	}
	// 7. pads
	tr.step("pads")
	asked := opened
	var sealedCounts map[kpi.OrgID][]byte
	if len(v.contract.Readers) > 0 {
		// Only the readers see the counts: they are sealed to each.
		withheld := contracts.Withheld(opened)
		asked = &withheld
		counts, _ := json.Marshal(opened.Counts)
		sealedCounts = map[kpi.OrgID][]byte{}
		info := contracts.SealInfo(v.cid, roundID, "counts", kpi.OrgID(c.cfg.Org))
		for _, r := range v.contract.Readers {
			if sealedCounts[r], err = privacy.SealTo(v.keys.ReaderKeys[r], info, counts); err != nil {
				return fail(fmt.Sprintf("seal the counts to reader %s: %v", r, err))
			}
		}
	}
	if f := c.dev().opened; f != nil {
		asked = &kpi.Opened{Keep: slices.Clone(asked.Keep), Counts: slices.Clone(asked.Counts), CountsDigest: asked.CountsDigest, Sums: asked.Sums}
		f(roundID, asked)
	}
	pads, errs := fanOut(v.round.Sealed, func(org kpi.OrgID) (contracts.SignedPads, error) {
		var p round.Pads
		err := c.callRound(ctx, org, round.Request{Op: round.OpPads, Round: roundID, Active: active, Opened: asked, Attest: sigs}, &p)
		return contracts.SignedPads{Pads: p.Pads, Sealed: p.Sealed, Sig: p.Sig}, err
	})
	if len(errs) > 0 {
		why, blame := describe(errs)
		return fail("pads: "+why, blame...)
	}
	// 8. release
	tr.step("release (raft commit)")
	rel := contracts.RoundRelease{Round: roundID, Decryptors: active, Opened: *asked, Attest: sigs, Pads: pads, SealedCounts: sealedCounts}
	if f := c.dev().release; f != nil {
		f(&rel)
	}
	entry, err = c.keys.sign(contracts.EntryRoundRelease, rel)
	if err != nil {
		return err
	}
	if _, err := c.submit(ctx, entry); err != nil {
		return fail("release refused: " + err.Error())
	}
	log.Info("round released", "inputs", len(v.round.Sealed), "kept", len(opened.Keep), "cells", len(v.contract.Cells()))
	return nil
}

// thresholdSet picks the members to decrypt a round: participants first
// (a participant that deviates as a decryptor can do no more than with
// its own input), then this node, then members it is connected to
// (likely up), then the others; exactly the threshold of them, sorted.
func (c *consortium) thresholdSet(v *roundView) []kpi.OrgID {
	candidates := slices.Clone(v.keys.Members)
	rank := c.decryptorRank()
	score := func(o kpi.OrgID) int {
		s := rank(o)
		if !slices.Contains(v.round.Sealed, o) {
			s += 10
		}
		return s
	}
	slices.SortStableFunc(candidates, func(a, b kpi.OrgID) int { return score(a) - score(b) })
	active := slices.Clone(candidates[:v.keys.Threshold])
	slices.Sort(active)
	return active
}

// decryptorRank orders the members to ask for decryption shares: this
// node (0), members it has a live connection to (1), the others (2).
func (c *consortium) decryptorRank() func(kpi.OrgID) int {
	peers := map[kpi.OrgID]peer.ID{}
	c.fsm.Read(func(s *contracts.State) {
		for _, m := range s.Members() {
			if id, err := peer.Decode(m.Member.PeerID); err == nil {
				peers[m.Member.Org] = id
			}
		}
	})
	return func(org kpi.OrgID) int {
		switch {
		case org == kpi.OrgID(c.cfg.Org):
			return 0
		case c.host.Raw().Network().Connectedness(peers[org]) == network.Connected:
			return 1
		}
		return 2
	}
}

// roundGuard holds what the round protocol serialises and limits on
// this node.
type roundGuard struct {
	// inputMu and shareMu make computing and storing an input or a
	// decryption share one step: two concurrent requests get the same
	// one, never two draws of noise or pads.
	inputMu, shareMu sync.Mutex

	mu      sync.Mutex
	now     func() time.Time
	opened  map[kpi.OrgID][]roundSeen // per aggregator, the rounds served in the last minute
	reports map[string]bool           // rounds whose aggregator's deviation this node reported
	seen    map[string]time.Time      // ongoing rounds, when this node first saw each
	runs    map[string]bool           // rounds this node is aggregating now
}

// firstReport reports whether round id's deviation is to be reported now:
// the first time only.
func (g *roundGuard) firstReport(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reports == nil {
		g.reports = map[string]bool{}
	}
	if g.reports[id] {
		return false
	}
	g.reports[id] = true
	return true
}

type roundSeen struct {
	id string
	at time.Time
}

// maxRoundsPerMinute bounds the new rounds one aggregator makes this node
// compute an input for, per minute.
const maxRoundsPerMinute = 30

// allow counts a request for round id from aggregator agg, and refuses
// it when agg asked for more than maxRoundsPerMinute other rounds in the
// last minute.
func (g *roundGuard) allow(agg kpi.OrgID, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.now != nil {
		now = g.now()
	}
	if g.opened == nil {
		g.opened = map[kpi.OrgID][]roundSeen{}
	}
	recent := g.opened[agg][:0]
	for _, r := range g.opened[agg] {
		if now.Sub(r.at) < time.Minute {
			recent = append(recent, r)
		}
	}
	g.opened[agg] = recent
	if slices.ContainsFunc(recent, func(r roundSeen) bool { return r.id == id }) {
		return nil
	}
	if len(recent) >= maxRoundsPerMinute {
		return fmt.Errorf("%s opened more than %d rounds in a minute; this node refuses more for now", agg, maxRoundsPerMinute)
	}
	g.opened[agg] = append(recent, roundSeen{id: id, at: now})
	return nil
}

// firstSeen returns when this node first saw ongoing round id, now the
// first time it is asked.
func (g *roundGuard) firstSeen(id string, now time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	if t, ok := g.seen[id]; ok {
		return t
	}
	g.seen[id] = now
	return now
}

// running records that this node aggregates round id (or no longer).
func (g *roundGuard) running(id string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.runs == nil {
		g.runs = map[string]bool{}
	}
	if on {
		g.runs[id] = true
	} else {
		delete(g.runs, id)
	}
}

func (g *roundGuard) isRunning(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runs[id]
}
