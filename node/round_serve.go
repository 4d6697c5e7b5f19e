package node

// A member's side of a round: what this node answers the round's
// aggregator (protocol/round's Backend), after checking the round and
// its policy against its own state (round.go has the steps).

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/store"
)

// roundBackend answers the round protocol for this node
// (protocol/round): every request is checked against this node's state,
// synced with the leader (sync), by serveRound, then by the step's own
// policy.
type roundBackend struct {
	c    *consortium
	sync func(context.Context) error
}

// roundServer is this node's round backend.
func (c *consortium) roundServer() roundBackend { return roundBackend{c: c, sync: c.sync} }

func (b roundBackend) Commit(ctx context.Context, from peer.ID, req *round.Request) error {
	_, err := b.serve(ctx, from, req, func(v *roundView) (any, error) {
		if err := b.c.rounds.allow(v.round.Aggregator, string(v.round.ID)); err != nil {
			return nil, err
		}
		return nil, b.c.commitInput(ctx, v)
	})
	return err
}

func (b roundBackend) Fetch(ctx context.Context, from peer.ID, req *round.Request) (*round.Input, error) {
	return serveAs(b, ctx, from, req, b.c.fetchInput)
}

func (b roundBackend) Print(ctx context.Context, from peer.ID, req *round.Request) (*round.Print, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) (*round.Print, error) { return b.c.print(v, req) })
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
	want := contracts.RoundSealed
	if req.Op == round.OpCommit {
		want = contracts.RoundCollecting
	}
	// This node's own state, when it has the round where the step needs
	// it (a round only moves forward, and the aggregator asks once the
	// log says so); otherwise the leader's latest: the round, its inputs.
	v, err := c.roundView(req.Round, want)
	if err != nil {
		if err := b.sync(ctx); err != nil {
			return nil, err
		}
		v, err = c.roundView(req.Round, want)
	}
	if err != nil {
		if req.Op == round.OpFetch || req.Op == round.OpPrint || req.Op == round.OpDecrypt {
			var r contracts.Round
			c.fsm.Read(func(s *contracts.State) { r, _ = s.Round(kpi.RoundID(req.Round)) })
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
	if v.round.Aggregator == kpi.OrgID(c.cfg.Org) || !c.rounds.firstReport(string(v.round.ID)) {
		return // an aggregator's own refusals reach it as errors
	}
	c.log.Warn("round aggregator deviated from the protocol", "round", v.round.ID, "aggregator", string(v.round.Aggregator), "err", err)
	f := &roundFailure{round: string(v.round.ID), blame: []kpi.OrgID{v.round.Aggregator},
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
	if c.inputRegistered(string(v.round.ID), org) {
		return nil
	}
	digest := inputDigest(&in.Input)
	if d := c.dev().inputDigest; d != nil {
		digest = d(string(v.round.ID), digest)
	}
	entry, err := c.sign(contracts.EntryRoundInput, contracts.RoundInput{Round: v.round.ID, Digest: digest})
	if err != nil {
		return err
	}
	if _, err := c.submit(ctx, entry); err != nil {
		var rej rejected
		if !errors.As(err, &rej) || !c.inputRegistered(string(v.round.ID), org) {
			return fmt.Errorf("register input: %w", err)
		}
	}
	c.log.Info("round input committed", "round", v.round.ID)
	return nil
}

// keptInput loads this participant's input to a round.
func (c *consortium) keptInput(v *roundView) (*keptInput, error) {
	b, err := c.db.Secret(v.round.Epoch, roundSecret(string(v.round.ID), "input"))
	if err != nil {
		return nil, err
	}
	var in keptInput
	if err := round.DecodeReply(b, &in); err != nil {
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
	pk, err := c.keys.PublicKey(v.keys)
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
	// One vector: every cell's count, whether this organisation feeds
	// it, then every padded component.
	vec := append(v.contract.CellCounts(comps), contributes...)
	in := &keptInput{Pads: make([]uint64, len(comps))}
	var buf [8]byte
	for i, x := range comps {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		in.Pads[i] = binary.LittleEndian.Uint64(buf[:])
		vec = append(vec, int64(uint64(x)+in.Pads[i])) // modulo 2^64
	}
	if in.Ciphertexts, err = privacy.Encrypt(c.params, pk, vec); err != nil {
		return nil, err
	}
	b, err := round.Encode(in)
	if err != nil {
		return nil, err
	}
	if err := c.db.PutSecret(v.round.Epoch, roundSecret(string(v.round.ID), "input"), b); err != nil {
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
		r, _ := s.Round(kpi.RoundID(round))
		_, ok = r.Inputs[org]
	})
	return ok
}

// print signs this member's fingerprint of its input (a sealed
// participant) or of its share (a decryptor that gave one) against the
// sum req.Digest names. A fingerprint tells no more of a ciphertext or a
// share than the aggregator, who holds it, knows.
func (c *consortium) print(v *roundView, req *round.Request) (*round.Print, error) {
	var of round.Input
	switch req.Of {
	case round.OfInput:
		in, err := c.fetchInput(v)
		if err != nil {
			return nil, err
		}
		of = *in
	case round.OfShare:
		kept, err := c.keptShare(v)
		if err != nil {
			return nil, fmt.Errorf("round %s: this member gave no share to it", v.round.ID)
		}
		of = round.Input{Ciphertexts: kept.Share.Ciphertexts}
	}
	fp, err := fingerprint(c.params, req.Of, &of, printSeed(v.cid, v.round.ID, req.Of, req.Digest))
	if err != nil {
		return nil, err
	}
	return &round.Print{Fingerprint: fp, Sig: c.roundSign(printBytes(v.cid, v.round.ID, req.Of, req.Digest, fp))}, nil
}

// sumInputs adds the inputs, in org order.
func sumInputs(p privacy.Params, inputs map[kpi.OrgID]round.Input) (privacy.Ciphertexts, error) {
	var all []privacy.Ciphertexts
	for _, org := range slices.Sorted(maps.Keys(inputs)) {
		all = append(all, inputs[org].Ciphertexts)
	}
	return privacy.Aggregate(p, all)
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
	if err := c.checkPrints(v, round.OfInput, req.Sum, req.Prints, v.round.Sealed); err != nil {
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
	p := c.params
	tk, err := privacy.UnmarshalThresholdKey(p, tkb)
	if err != nil {
		return nil, err
	}
	d, err := privacy.NewDecryptor(p, tk, own-1, len(v.keys.Members), v.keys.Threshold, active)
	if err != nil {
		return nil, err
	}
	kept := keptShare{Active: slices.Clone(req.Active), keptSums: keptSums{Sum: req.Sum.Ciphertexts}}
	if kept.Share.Ciphertexts, err = d.Share(req.Sum.Ciphertexts); err != nil {
		return nil, err
	}
	if f := c.dev().share; f != nil {
		f(string(v.round.ID), &kept.Share)
	}
	kept.Share.Sig = c.roundSign(shareBytes(v.cid, string(v.round.ID), req.Active, &kept.Share))
	sums, err := round.Encode(kept.keptSums)
	if err != nil {
		return nil, err
	}
	if err := c.db.PutSecret(v.round.Epoch, roundSecret(string(v.round.ID), "sums"), sums); err != nil {
		return nil, err
	}
	share, err := round.Encode(struct {
		Active []kpi.OrgID `json:"active"`
		Share  round.Share `json:"share"`
	}{kept.Active, kept.Share})
	if err != nil {
		return nil, err
	}
	if err := c.db.PutSecret(v.round.Epoch, roundSecret(string(v.round.ID), "share"), share); err != nil {
		return nil, err
	}
	c.log.Info("round decryption share given", "round", v.round.ID)
	return &kept.Share, nil
}

// keptShare loads this decryptor's share of a round, and the sums it
// decrypted.
func (c *consortium) keptShare(v *roundView) (*keptShare, error) {
	b, err := c.db.Secret(v.round.Epoch, roundSecret(string(v.round.ID), "share"))
	if err != nil {
		return nil, err
	}
	var kept keptShare
	if err := round.DecodeReply(b, &kept); err != nil {
		return nil, err
	}
	if b, err = c.db.Secret(v.round.Epoch, roundSecret(string(v.round.ID), "sums")); err != nil {
		return nil, err
	}
	if err := round.DecodeReply(b, &kept.keptSums); err != nil {
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
		return fmt.Errorf("round %s: shares from %s, want one from each of %s", v.round.ID, got, active)
	}
	var err error
	c.fsm.Read(func(s *contracts.State) {
		for _, o := range active {
			sh := shares[o]
			if e := s.VerifyMember(o, shareBytes(v.cid, string(v.round.ID), active, &sh), sh.Sig); e != nil {
				err = fmt.Errorf("round %s: the share said to be %s's: %w", v.round.ID, o, e)
				return
			}
		}
	})
	return err
}

// openShares combines decryption shares of a round's sum (each
// decryptor's, or their sum: privacy.SumShares) and returns what they
// open: the cells that reach the floor, their counts and padded sums.
func openShares(p privacy.Params, c *contracts.Contract, sum privacy.Ciphertexts, shares []privacy.Ciphertexts) (*kpi.Opened, error) {
	n, w := len(c.Cells()), c.Width()
	// Every cell's count, how many organisations feed it, then the
	// padded components.
	v, err := privacy.Open(p, sum, shares, 2*n+n*w)
	if err != nil {
		return nil, fmt.Errorf("the sum does not open: %w", err)
	}
	return contracts.Keep(c, v[:n], v[n:2*n], v[2*n:])
}

// attest opens a round's sums with the sum of the decryptors' shares,
// once their signed fingerprints (this decryptor's own among them) show
// it is that sum, and signs what they open.
func (c *consortium) attest(v *roundView, req *round.Request) ([]byte, error) {
	kept, err := c.keptShare(v)
	if err != nil {
		return nil, fmt.Errorf("round %s: this member gave no share to it", v.round.ID)
	}
	if !slices.Equal(kept.Active, req.Active) {
		return nil, fmt.Errorf("round %s: this member decrypted for the threshold set %v, not %v", v.round.ID, kept.Active, req.Active)
	}
	if err := c.checkPrints(v, round.OfShare, req.Sum, req.Prints, req.Active); err != nil {
		return nil, deviated(err)
	}
	own := round.Input{Ciphertexts: kept.Share.Ciphertexts}
	seed := printSeed(v.cid, v.round.ID, round.OfShare, sumDigest(round.OfShare, req.Sum))
	if fp, err := fingerprint(c.params, round.OfShare, &own, seed); err != nil || !slices.Equal(fp, req.Prints[kpi.OrgID(c.cfg.Org)].Fingerprint) {
		return nil, deviated(fmt.Errorf("round %s: the fingerprint said to be %s's is not of the share it gave", v.round.ID, c.cfg.Org))
	}
	opened, err := openShares(c.params, v.contract, kept.Sum, []privacy.Ciphertexts{req.Sum.Ciphertexts})
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
