package rounds

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
// synced with the leader (Config.Sync), by serve, then by the step's own
// policy.
type roundBackend struct{ m *Manager }

// roundServer is this node's round backend.
func (m *Manager) roundServer() roundBackend { return roundBackend{m} }

func (b roundBackend) Commit(ctx context.Context, from peer.ID, req *round.Request) error {
	_, err := b.serve(ctx, from, req, func(v *roundView) (any, error) {
		if err := b.m.guard.allow(v.round.Aggregator, string(v.round.ID)); err != nil {
			return nil, err
		}
		return nil, b.m.commitInput(ctx, v)
	})
	return err
}

func (b roundBackend) Fetch(ctx context.Context, from peer.ID, req *round.Request) (*round.Input, error) {
	return serveAs(b, ctx, from, req, b.m.fetchInput)
}

func (b roundBackend) Print(ctx context.Context, from peer.ID, req *round.Request) (*round.Print, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) (*round.Print, error) { return b.m.print(v, req) })
}

func (b roundBackend) Decrypt(ctx context.Context, from peer.ID, req *round.Request) (*round.Share, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) (*round.Share, error) { return b.m.decryptShare(v, req) })
}

func (b roundBackend) Attest(ctx context.Context, from peer.ID, req *round.Request) ([]byte, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) ([]byte, error) { return b.m.attest(v, req) })
}

func (b roundBackend) Pads(ctx context.Context, from peer.ID, req *round.Request) (*round.Pads, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) (*round.Pads, error) { return b.m.revealPads(v, req) })
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
	m := b.m
	defer func() {
		if m.cfg.OnRequest != nil {
			outcome := "served"
			if err != nil {
				outcome = "refused"
			}
			m.cfg.OnRequest(req.Op, outcome)
		}
	}()
	want := contracts.RoundSealed
	if req.Op == round.OpCommit {
		want = contracts.RoundCollecting
	}
	// This node's own state, when it has the round where the step needs
	// it (a round only moves forward, and the aggregator asks once the
	// log says so); otherwise the leader's latest: the round, its inputs.
	v, err := m.roundView(req.Round, want)
	if err != nil {
		if err := m.cfg.Sync(ctx); err != nil {
			return nil, err
		}
		v, err = m.roundView(req.Round, want)
	}
	if err != nil {
		if req.Op == round.OpFetch || req.Op == round.OpPrint || req.Op == round.OpDecrypt {
			var r contracts.Round
			m.cfg.State(func(s *contracts.State) { r, _ = s.Round(kpi.RoundID(req.Round)) })
			if r.State == contracts.RoundCollecting && m.isAggregator(r, from) {
				// A ciphertext or a share asked for before the log fixed
				// the inputs: the input-cancellation attack.
				m.reportDeviation(&roundView{round: r}, err)
			}
		}
		return nil, err
	}
	if !m.isAggregator(v.round, from) {
		return nil, fmt.Errorf("round %s: only its aggregator %s asks for inputs and shares", req.Round, v.round.Aggregator)
	}
	reply, err = step(v)
	var dev *aggregatorDeviated
	if errors.As(err, &dev) {
		m.reportDeviation(v, err)
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
func (m *Manager) reportDeviation(v *roundView, err error) {
	if v.round.Aggregator == m.cfg.Org || !m.guard.firstReport(string(v.round.ID)) {
		return // an aggregator's own refusals reach it as errors
	}
	m.log.Warn("round aggregator deviated from the protocol", "round", v.round.ID, "aggregator", string(v.round.Aggregator), "err", err)
	f := &Failure{round: string(v.round.ID), blame: []kpi.OrgID{v.round.Aggregator},
		reason: fmt.Sprintf("%s refused the aggregator %s: %v", m.cfg.Org, v.round.Aggregator, err)}
	ctx, cancel := context.WithTimeout(m.cfg.Context(), 10*time.Second)
	defer cancel()
	if err := m.recordFailure(ctx, f); err != nil && ctx.Err() == nil {
		m.log.Warn("record the round's failure", "round", f.round, "err", err)
	}
}

// isAggregator reports whether peer p is round r's aggregator.
func (m *Manager) isAggregator(r contracts.Round, p peer.ID) bool {
	var ok bool
	m.cfg.State(func(s *contracts.State) {
		mem, found := s.Member(r.Aggregator)
		ok = found && mem.Member.PeerID == p.String()
	})
	return ok
}

// commitInput computes, encrypts and registers this participant's input
// to a round, once: asked again, it registers nothing new.
func (m *Manager) commitInput(ctx context.Context, v *roundView) error {
	org := m.cfg.Org
	if !slices.Contains(v.contract.Participants, org) {
		return fmt.Errorf("%s is not a participant of %s", org, v.contract.ID)
	}
	m.guard.inputMu.Lock()
	defer m.guard.inputMu.Unlock()
	in, err := m.keptInput(v)
	if errors.Is(err, store.ErrNoSecret) {
		in, err = m.newInput(ctx, v)
	}
	if err != nil {
		return err
	}
	if m.inputRegistered(string(v.round.ID), org) {
		return nil
	}
	digest := inputDigest(&in.Input)
	if d := m.dev().InputDigest; d != nil {
		digest = d(string(v.round.ID), digest)
	}
	entry, err := m.cfg.Sign(contracts.EntryRoundInput, contracts.RoundInput{Round: v.round.ID, Digest: digest})
	if err != nil {
		return err
	}
	if _, err := m.cfg.Submit(ctx, entry); err != nil {
		if !m.cfg.Rejected(err) || !m.inputRegistered(string(v.round.ID), org) {
			return fmt.Errorf("register input: %w", err)
		}
	}
	m.log.Info("round input committed", "round", v.round.ID)
	return nil
}

// keptInput loads this participant's input to a round.
func (m *Manager) keptInput(v *roundView) (*keptInput, error) {
	b, err := m.cfg.Secrets.Secret(v.round.Epoch, roundSecret(string(v.round.ID), "input"))
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
func (m *Manager) newInput(ctx context.Context, v *roundView) (*keptInput, error) {
	comps, _, err := m.cfg.Components(ctx, v.contract)
	if err != nil {
		return nil, err
	}
	pk, err := m.cfg.PublicKey(v.keys)
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
	if in.Ciphertexts, err = privacy.Encrypt(m.cfg.Params, pk, vec); err != nil {
		return nil, err
	}
	b, err := round.Encode(in)
	if err != nil {
		return nil, err
	}
	if err := m.cfg.Secrets.PutSecret(v.round.Epoch, roundSecret(string(v.round.ID), "input"), b); err != nil {
		return nil, err
	}
	return in, nil
}

// fetchInput hands this participant's ciphertexts to the aggregator, once
// the log has sealed the round with this input in it.
func (m *Manager) fetchInput(v *roundView) (*round.Input, error) {
	org := m.cfg.Org
	if !slices.Contains(v.round.Sealed, org) {
		return nil, fmt.Errorf("round %s does not sum %s's input", v.round.ID, org)
	}
	in, err := m.keptInput(v)
	if err != nil {
		return nil, fmt.Errorf("round %s: this node has no input to it: %w", v.round.ID, err)
	}
	if inputDigest(&in.Input) != v.round.Inputs[org] {
		return nil, fmt.Errorf("round %s: the log holds another input of %s than this node's", v.round.ID, org)
	}
	return &in.Input, nil
}

// inputRegistered reports whether the log has org's input to a round.
func (m *Manager) inputRegistered(round string, org kpi.OrgID) bool {
	var ok bool
	m.cfg.State(func(s *contracts.State) {
		r, _ := s.Round(kpi.RoundID(round))
		_, ok = r.Inputs[org]
	})
	return ok
}

// print signs this member's fingerprint of its input (a sealed
// participant) or of its share (a decryptor that gave one) against the
// sum req.Digest names. A fingerprint tells no more of a ciphertext or a
// share than the aggregator, who holds it, knows.
func (m *Manager) print(v *roundView, req *round.Request) (*round.Print, error) {
	var of round.Input
	switch req.Of {
	case round.OfInput:
		in, err := m.fetchInput(v)
		if err != nil {
			return nil, err
		}
		of = *in
	case round.OfShare:
		kept, err := m.keptShare(v)
		if err != nil {
			return nil, fmt.Errorf("round %s: this member gave no share to it", v.round.ID)
		}
		of = round.Input{Ciphertexts: kept.Share.Ciphertexts}
	}
	fp, err := fingerprint(m.cfg.Params, req.Of, &of, printSeed(v.cid, v.round.ID, req.Of, req.Digest))
	if err != nil {
		return nil, err
	}
	return &round.Print{Fingerprint: fp, Sig: m.roundSign(printBytes(v.cid, v.round.ID, req.Of, req.Digest, fp))}, nil
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
func (m *Manager) activePoints(v *roundView, active []kpi.OrgID) ([]int, error) {
	org := m.cfg.Org
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
func (m *Manager) decryptShare(v *roundView, req *round.Request) (*round.Share, error) {
	org := m.cfg.Org
	own, member := v.keys.Point(org)
	if !member {
		return nil, fmt.Errorf("%s is not a member of key epoch %d", org, v.keys.Epoch)
	}
	active, err := m.activePoints(v, req.Active)
	if err != nil {
		return nil, deviated(err)
	}
	if err := m.checkPrints(v, round.OfInput, req.Sum, req.Prints, v.round.Sealed); err != nil {
		return nil, deviated(err)
	}
	m.guard.shareMu.Lock()
	defer m.guard.shareMu.Unlock()
	if kept, err := m.keptShare(v); err == nil {
		if !slices.Equal(kept.Active, req.Active) {
			return nil, fmt.Errorf("round %s: this member gave its share for another threshold set; open a new round", v.round.ID)
		}
		return &kept.Share, nil
	} else if !errors.Is(err, store.ErrNoSecret) {
		return nil, err
	}
	tkb, err := m.cfg.ThresholdKey(v.round.Epoch)
	if err != nil {
		return nil, fmt.Errorf("this node has no threshold key for epoch %d yet", v.round.Epoch)
	}
	p := m.cfg.Params
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
	if f := m.dev().Share; f != nil {
		f(string(v.round.ID), &kept.Share)
	}
	kept.Share.Sig = m.roundSign(shareBytes(v.cid, string(v.round.ID), req.Active, &kept.Share))
	sums, err := round.Encode(kept.keptSums)
	if err != nil {
		return nil, err
	}
	if err := m.cfg.Secrets.PutSecret(v.round.Epoch, roundSecret(string(v.round.ID), "sums"), sums); err != nil {
		return nil, err
	}
	share, err := round.Encode(struct {
		Active []kpi.OrgID `json:"active"`
		Share  round.Share `json:"share"`
	}{kept.Active, kept.Share})
	if err != nil {
		return nil, err
	}
	if err := m.cfg.Secrets.PutSecret(v.round.Epoch, roundSecret(string(v.round.ID), "share"), share); err != nil {
		return nil, err
	}
	m.log.Info("round decryption share given", "round", v.round.ID)
	return &kept.Share, nil
}

// keptShare loads this decryptor's share of a round, and the sums it
// decrypted.
func (m *Manager) keptShare(v *roundView) (*keptShare, error) {
	b, err := m.cfg.Secrets.Secret(v.round.Epoch, roundSecret(string(v.round.ID), "share"))
	if err != nil {
		return nil, err
	}
	var kept keptShare
	if err := round.DecodeReply(b, &kept); err != nil {
		return nil, err
	}
	if b, err = m.cfg.Secrets.Secret(v.round.Epoch, roundSecret(string(v.round.ID), "sums")); err != nil {
		return nil, err
	}
	if err := round.DecodeReply(b, &kept.keptSums); err != nil {
		return nil, err
	}
	return &kept, nil
}

// roundSign signs what this member says of a round.
func (m *Manager) roundSign(msg []byte) []byte {
	return m.cfg.SignRound(msg)
}

// verifyShares checks every decryptor's share is signed by it, for this
// round and threshold set.
func (m *Manager) verifyShares(v *roundView, active []kpi.OrgID, shares map[kpi.OrgID]round.Share) error {
	if got := slices.Sorted(maps.Keys(shares)); !slices.Equal(got, active) {
		return fmt.Errorf("round %s: shares from %s, want one from each of %s", v.round.ID, got, active)
	}
	var err error
	m.cfg.State(func(s *contracts.State) {
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
func openShares(p privacy.Params, ct *contracts.Contract, sum privacy.Ciphertexts, shares []privacy.Ciphertexts) (*kpi.Opened, error) {
	n, w := len(ct.Cells()), ct.Width()
	// Every cell's count, how many organisations feed it, then the
	// padded components.
	v, err := privacy.Open(p, sum, shares, 2*n+n*w)
	if err != nil {
		return nil, fmt.Errorf("the sum does not open: %w", err)
	}
	return contracts.Keep(ct, v[:n], v[n:2*n], v[2*n:])
}

// attest opens a round's sums with the sum of the decryptors' shares,
// once their signed fingerprints (this decryptor's own among them) show
// it is that sum, and signs what they open.
func (m *Manager) attest(v *roundView, req *round.Request) ([]byte, error) {
	kept, err := m.keptShare(v)
	if err != nil {
		return nil, fmt.Errorf("round %s: this member gave no share to it", v.round.ID)
	}
	if !slices.Equal(kept.Active, req.Active) {
		return nil, fmt.Errorf("round %s: this member decrypted for the threshold set %v, not %v", v.round.ID, kept.Active, req.Active)
	}
	if err := m.checkPrints(v, round.OfShare, req.Sum, req.Prints, req.Active); err != nil {
		return nil, deviated(err)
	}
	own := round.Input{Ciphertexts: kept.Share.Ciphertexts}
	seed := printSeed(v.cid, v.round.ID, round.OfShare, sumDigest(round.OfShare, req.Sum))
	if fp, err := fingerprint(m.cfg.Params, round.OfShare, &own, seed); err != nil || !slices.Equal(fp, req.Prints[m.cfg.Org].Fingerprint) {
		return nil, deviated(fmt.Errorf("round %s: the fingerprint said to be %s's is not of the share it gave", v.round.ID, m.cfg.Org))
	}
	opened, err := openShares(m.cfg.Params, v.contract, kept.Sum, []privacy.Ciphertexts{req.Sum.Ciphertexts})
	if err != nil {
		return nil, fmt.Errorf("round %s: %w", v.round.ID, err)
	}
	return m.roundSign(contracts.AttestBytes(v.cid, v.round.ID, v.round.Epoch, req.Active, opened)), nil
}

// revealPads reveals this participant's pads of the cells a round's
// decryptors opened above the floor, once it has checked every
// decryptor's signature over what they opened, and the floor itself.
func (m *Manager) revealPads(v *roundView, req *round.Request) (*round.Pads, error) {
	org := m.cfg.Org
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
	m.cfg.State(func(s *contracts.State) {
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
	in, err := m.keptInput(v)
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
	out.Sig = m.roundSign(contracts.PadsBytes(v.cid, v.round.ID, attest, out.Signed()))
	return &round.Pads{Pads: out.Pads, Sealed: out.Sealed, Sig: out.Sig}, nil
}
