package node

// KPI rounds (DESIGN §5). The node that opens a round aggregates it:
//
//  1. it opens the round in the log (round.open);
//  2. it asks every participant for its input over /cxnet/round: the
//     participant checks the round, computes its components over its own
//     records, encrypts them under the consortium's key (counts per cell,
//     and all components), registers the digest of what it sends
//     (round.input) and replies with the ciphertexts;
//  3. it adds the inputs, and asks a threshold of key members for
//     decryption shares: first of the counts, then — once the counts show
//     which cells reach the contract's cohort floor — of the components
//     with every other cell masked to zero. Each member checks the round
//     and the policy itself, recomputes the aggregate from the inputs it
//     is sent (each must match its registered digest), and gives a share
//     only for that aggregate; it keeps its share and gives the same one
//     again if asked twice;
//  4. it opens the values and publishes the released cells (round.release).
//
// No plaintext of one organisation leaves its node: inputs are
// ciphertexts, shares are smudged, and only the released cells are opened.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/rpc"
	"github.com/cxnet/cxnet/store"
)

// roundLimits bound /cxnet/round exchanges: every participant's input
// travels to each decryptor.
var roundLimits = rpc.Limits{MaxMsgSize: 64 << 20, Timeout: 2 * time.Minute}

// roundInput is a participant's encrypted input: the count of every cell,
// and every component of every cell.
type roundInput struct {
	Counts privacy.Ciphertexts `json:"counts"`
	Values privacy.Ciphertexts `json:"values"`
}

// digest is what the participant registers in the log for its input.
func (in *roundInput) digest(round string) string {
	h := sha256.New()
	h.Write([]byte("cxnet/round-input/v1\x00" + round + "\x00"))
	for _, v := range [][][]byte{in.Counts, in.Values} {
		fmt.Fprintf(h, "%d\x00", len(v))
		for _, b := range v {
			fmt.Fprintf(h, "%d\x00", len(b))
			h.Write(b)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// roundRequest is the /cxnet/round protocol's request.
type roundRequest struct {
	Op    string `json:"op"` // "input" | "decrypt"
	Round string `json:"round"`
	// decrypt only:
	Phase       int                      `json:"phase,omitempty"` // 1: counts, 2: masked values
	Active      []kpi.OrgID              `json:"active,omitempty"`
	Inputs      map[kpi.OrgID]roundInput `json:"inputs,omitempty"`
	CountShares []privacy.Ciphertexts    `json:"count_shares,omitempty"` // phase 2: the active members' phase-1 shares
}

// roundView is what a node checks a round against: its own state.
type roundView struct {
	round    contracts.Round
	contract *contracts.Contract
	keys     contracts.KeyEpoch
}

// view reads round id from this node's state and checks it may take part:
// the round is open, its contract active at the round's version, and the
// round's key epoch is the consortium's key.
func (c *consortium) roundView(id string) (*roundView, error) {
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
	})
	switch {
	case !ok:
		return nil, fmt.Errorf("there is no round %q", id)
	case v.round.State != contracts.RoundCollecting:
		return nil, fmt.Errorf("round %s is %s", id, v.round.State)
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
		return nil, fmt.Errorf("the collective public key of epoch %d is not built", e.Epoch)
	}
	return k.pk, nil
}

// handleRound serves /cxnet/round.
func (c *consortium) handleRound(ctx context.Context, from peer.ID, b []byte) ([]byte, error) {
	var req roundRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("bad round request: %v", err)
	}
	// Check against the leader's latest state: the round, its inputs.
	if err := c.sync(ctx); err != nil {
		return nil, err
	}
	reply, err := c.serveRound(ctx, from, &req)
	if c.metrics != nil && (req.Op == "input" || req.Op == "decrypt") {
		outcome := "served"
		if err != nil {
			outcome = "refused"
		}
		c.metrics.roundRequests.WithLabelValues(req.Op, outcome).Inc()
	}
	return reply, err
}

// serveRound carries out a round request once this node's state is
// current. The sender must be the round's aggregator; the log says who
// that is.
func (c *consortium) serveRound(ctx context.Context, from peer.ID, req *roundRequest) ([]byte, error) {
	v, err := c.roundView(req.Round)
	if err != nil {
		return nil, err
	}
	var agg kpi.Member
	c.fsm.Read(func(s *contracts.State) {
		if m, ok := s.Member(v.round.Aggregator); ok {
			agg = m.Member
		}
	})
	if agg.PeerID != from.String() {
		return nil, fmt.Errorf("round %s: only its aggregator %s asks for inputs and shares", req.Round, v.round.Aggregator)
	}
	switch req.Op {
	case "input":
		in, err := c.myInput(ctx, v)
		if err != nil {
			return nil, err
		}
		return json.Marshal(in)
	case "decrypt":
		share, err := c.decryptShare(v, req)
		if err != nil {
			return nil, err
		}
		return json.Marshal(share)
	}
	return nil, fmt.Errorf("unknown round operation %q", req.Op)
}

// myInput computes, encrypts and registers this participant's input to a
// round, once: asked again, it sends the same ciphertexts.
func (c *consortium) myInput(ctx context.Context, v *roundView) (*roundInput, error) {
	org := kpi.OrgID(c.cfg.Org)
	if !slices.Contains(v.contract.Participants, org) {
		return nil, fmt.Errorf("%s is not a participant of %s", org, v.contract.ID)
	}
	name := roundSecret(v.round.ID, "input")
	if b, err := c.db.Secret(v.round.Epoch, name); err == nil {
		var in roundInput
		if err := json.Unmarshal(b, &in); err != nil {
			return nil, err
		}
		return &in, nil
	} else if !errors.Is(err, store.ErrNoSecret) {
		return nil, err
	}
	comps, _, err := localComponents(ctx, c.db, v.contract)
	if err != nil {
		return nil, err
	}
	pk, err := c.keys.publicKey(v.keys)
	if err != nil {
		return nil, err
	}
	if eps := v.contract.Privacy.Epsilon; eps.Mantissa != 0 {
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
	counts := v.contract.CellCounts(comps)
	in := &roundInput{}
	if in.Counts, err = privacy.Encrypt(c.keys.params, pk, counts); err != nil {
		return nil, err
	}
	if in.Values, err = privacy.Encrypt(c.keys.params, pk, comps); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(in)
	if err := c.db.PutSecret(v.round.Epoch, name, b); err != nil {
		return nil, err
	}
	entry, err := c.keys.sign(contracts.EntryRoundInput, contracts.RoundInput{Round: v.round.ID, Digest: in.digest(v.round.ID)})
	if err != nil {
		return nil, err
	}
	if _, err := c.submit(ctx, entry); err != nil {
		var rej rejected
		if !errors.As(err, &rej) || !c.inputRegistered(v.round.ID, org) {
			return nil, fmt.Errorf("register input: %w", err)
		}
	}
	c.log.Info("round input sent", "round", v.round.ID, "cells", len(counts))
	return in, nil
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
// log: only participants, at least min_participants of them, each exactly
// the input it registered.
func checkInputs(v *roundView, inputs map[kpi.OrgID]roundInput) error {
	if len(inputs) < contracts.MinInputs(v.contract) {
		return fmt.Errorf("round %s: %d inputs; %s needs %d", v.round.ID, len(inputs), v.contract.ID, contracts.MinInputs(v.contract))
	}
	for org, in := range inputs {
		want, ok := v.round.Inputs[org]
		if !ok || !slices.Contains(v.contract.Participants, org) {
			return fmt.Errorf("round %s: an input from %s, who registered none", v.round.ID, org)
		}
		if got := in.digest(v.round.ID); got != want {
			return fmt.Errorf("round %s: the input of %s is not the one it registered", v.round.ID, org)
		}
	}
	return nil
}

// sumInputs adds the inputs' counts or values, in org order.
func sumInputs(p privacy.Params, inputs map[kpi.OrgID]roundInput, values bool) (privacy.Ciphertexts, error) {
	var all []privacy.Ciphertexts
	for _, org := range slices.Sorted(maps.Keys(inputs)) {
		if values {
			all = append(all, inputs[org].Values)
		} else {
			all = append(all, inputs[org].Counts)
		}
	}
	return privacy.Aggregate(p, all)
}

// keepCells says which cells reach the cohort floor, expanded to every
// component of the cell.
func keepCells(c *contracts.Contract, counts []*big.Int) (cells, comps []bool) {
	w := c.Width()
	floor := big.NewInt(int64(c.Privacy.MinCohort))
	cells = make([]bool, len(counts))
	comps = make([]bool, len(counts)*w)
	for i, n := range counts {
		cells[i] = n.Cmp(floor) >= 0
		for j := range w {
			comps[i*w+j] = cells[i]
		}
	}
	return cells, comps
}

// decryptShare gives this member's decryption share of a round's
// aggregate, after checking the policy itself. A share is stored and
// given again unchanged; a request for another active set is refused.
func (c *consortium) decryptShare(v *roundView, req *roundRequest) (privacy.Ciphertexts, error) {
	org := kpi.OrgID(c.cfg.Org)
	k := c.keys
	own, member := v.keys.Point(org)
	if !member {
		return nil, fmt.Errorf("%s is not a member of key epoch %d", org, v.keys.Epoch)
	}
	if !slices.IsSorted(req.Active) || len(req.Active) != v.keys.Threshold || !slices.Contains(req.Active, org) {
		return nil, fmt.Errorf("round %s: the active set %v must be %d sorted members of key epoch %d, %s among them", v.round.ID, req.Active, v.keys.Threshold, v.keys.Epoch, org)
	}
	active := make([]int, len(req.Active))
	for i, a := range req.Active {
		pt, ok := v.keys.Point(a)
		if !ok || i > 0 && req.Active[i-1] == a {
			return nil, fmt.Errorf("round %s: %s in the active set is not a member of key epoch %d", v.round.ID, a, v.keys.Epoch)
		}
		active[i] = pt - 1
	}
	if req.Phase != 1 && req.Phase != 2 {
		return nil, fmt.Errorf("round %s: phase %d", v.round.ID, req.Phase)
	}
	if err := checkInputs(v, req.Inputs); err != nil {
		return nil, err
	}
	activeKey, _ := json.Marshal(req.Active)
	name := roundSecret(v.round.ID, fmt.Sprintf("share/%d", req.Phase))
	if b, err := c.db.Secret(v.round.Epoch, name); err == nil {
		var cached struct {
			Active json.RawMessage     `json:"active"`
			Share  privacy.Ciphertexts `json:"share"`
		}
		if err := json.Unmarshal(b, &cached); err != nil {
			return nil, err
		}
		if string(cached.Active) != string(activeKey) {
			return nil, fmt.Errorf("round %s: this member gave its phase-%d share for another set of members; open a new round", v.round.ID, req.Phase)
		}
		return cached.Share, nil
	}
	tkb, err := c.db.Secret(v.round.Epoch, secretTKey)
	if err != nil {
		return nil, fmt.Errorf("this node has no threshold key for epoch %d yet", v.round.Epoch)
	}
	tk, err := privacy.UnmarshalThresholdKey(k.params, tkb)
	if err != nil {
		return nil, err
	}
	var target privacy.Ciphertexts
	if req.Phase == 1 {
		target, err = sumInputs(k.params, req.Inputs, false)
	} else {
		target, _, err = maskedValues(k.params, v, req.Inputs, req.CountShares)
	}
	if err != nil {
		return nil, err
	}
	d, err := privacy.NewDecryptor(k.params, tk, own-1, len(v.keys.Members), v.keys.Threshold, active)
	if err != nil {
		return nil, err
	}
	share, err := d.Share(target)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(struct {
		Active json.RawMessage     `json:"active"`
		Share  privacy.Ciphertexts `json:"share"`
	}{activeKey, share})
	if err := c.db.PutSecret(v.round.Epoch, name, b); err != nil {
		return nil, err
	}
	c.log.Info("round decryption share given", "round", v.round.ID, "phase", req.Phase)
	return share, nil
}

// secretRound prefixes what this node keeps of a round it takes part in,
// as secrets of the round's key epoch: "input" (its encrypted input) and
// "share/<phase>" (its decryption shares).
const secretRound = "round/"

func roundSecret(id, what string) string { return secretRound + id + "/" + what }

// forgetEndedRounds deletes what this node kept of the rounds of the
// consortium's key epoch that ended (released or abandoned): the policy
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
			if r, ok := s.Round(parts[0] + "/" + parts[1]); !ok || r.State != contracts.RoundCollecting {
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
func (c *consortium) callRound(ctx context.Context, org kpi.OrgID, req roundRequest, out any) error {
	b, _ := json.Marshal(req)
	var reply []byte
	var err error
	if org == kpi.OrgID(c.cfg.Org) {
		reply, err = c.handleRound(ctx, c.host.ID(), b)
	} else {
		var pid peer.ID
		c.fsm.Read(func(s *contracts.State) {
			if m, ok := s.Member(org); ok {
				pid, _ = peer.Decode(m.Member.PeerID)
			}
		})
		reply, err = rpc.CallWithLimits(ctx, c.host.Raw(), pid, protocol.RoundID, b, roundLimits)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", org, err)
	}
	return json.Unmarshal(reply, out)
}

// runRound opens a round of contract id, aggregates it and publishes its
// release. It returns the round id.
func (c *consortium) runRound(ctx context.Context, id kpi.ContractID) (string, error) {
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
		return "", inputError{fmt.Sprintf("no contract %q in this consortium: see `cxnet contract list`", id)}
	}
	if rec.State != contracts.ContractActive {
		return "", inputError{fmt.Sprintf("%s v%d is %s; a round needs an active contract (approved, and the consortium's key covering its participants: see `cxnet status`)", id, rec.Version, rec.State)}
	}
	entry, err := c.keys.sign(contracts.EntryRoundOpen, contracts.RoundOpen{Contract: id, Version: rec.Version, Hash: rec.Hash, Epoch: keys.Epoch})
	if err != nil {
		return "", err
	}
	ev, err := c.submit(ctx, entry)
	if err != nil {
		return "", err
	}
	roundID := ev.Object
	v, err := c.roundView(roundID)
	if err != nil {
		return roundID, err
	}
	log := c.log.With("round", roundID)
	log.Info("round opened", "participants", len(v.contract.Participants))

	inputs, err := c.collectInputs(ctx, v, log)
	if err != nil {
		return roundID, err
	}
	// Our own state must show every registered input before we ask
	// others to check them.
	if err := c.sync(ctx); err != nil {
		return roundID, err
	}

	// Decryptors: this node first when it is a key member, then members
	// this node is connected to (likely up), then the others.
	candidates := slices.Clone(v.keys.Members)
	rank := c.decryptorRank()
	slices.SortStableFunc(candidates, func(a, b kpi.OrgID) int { return rank(a) - rank(b) })
	active := slices.Clone(candidates[:v.keys.Threshold])
	slices.Sort(active)
	decrypt := func(phase int, countShares []privacy.Ciphertexts) ([]privacy.Ciphertexts, error) {
		shares := make([]privacy.Ciphertexts, len(active))
		errs := make([]error, len(active))
		var wg sync.WaitGroup
		for i, org := range active {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.callRound(ctx, org, roundRequest{Op: "decrypt", Round: roundID, Phase: phase, Active: active,
					Inputs: inputs, CountShares: countShares}, &shares[i])
			}()
		}
		wg.Wait()
		return shares, errors.Join(errs...)
	}
	countShares, err := decrypt(1, nil)
	if err != nil {
		return roundID, fmt.Errorf("round %s: decryption of the counts: %w", roundID, err)
	}
	p := c.keys.params
	valuesAgg, keepCell, err := maskedValues(p, v, inputs, countShares)
	if err != nil {
		return roundID, err
	}
	valueShares, err := decrypt(2, countShares)
	if err != nil {
		return roundID, fmt.Errorf("round %s: decryption of the values: %w", roundID, err)
	}
	sums, err := privacy.Open(p, valuesAgg, valueShares, len(keepCell)*v.contract.Width())
	if err != nil {
		return roundID, err
	}
	released, suppressed, err := releaseCells(v.contract, sums, keepCell)
	if err != nil {
		return roundID, fmt.Errorf("round %s: %w", roundID, err)
	}
	cellsJSON, _ := json.Marshal(released)
	orgs := slices.Sorted(maps.Keys(inputs))
	entry, err = c.keys.sign(contracts.EntryRoundRelease, contracts.RoundRelease{Round: roundID, Inputs: orgs, Decryptors: active,
		Cells: cellsJSON, Suppressed: suppressed})
	if err != nil {
		return roundID, err
	}
	if _, err := c.submit(ctx, entry); err != nil {
		return roundID, fmt.Errorf("round %s: publish the release: %w", roundID, err)
	}
	log.Info("round released", "inputs", len(orgs), "cells", len(released), "suppressed", suppressed)
	return roundID, nil
}

// collectInputs asks every participant of a round for its input, in
// parallel, and fails when fewer than min_participants answer.
func (c *consortium) collectInputs(ctx context.Context, v *roundView, log *slog.Logger) (map[kpi.OrgID]roundInput, error) {
	var mu sync.Mutex
	inputs := map[kpi.OrgID]roundInput{}
	var failed []string
	var wg sync.WaitGroup
	for _, org := range v.contract.Participants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var in roundInput
			err := c.callRound(ctx, org, roundRequest{Op: "input", Round: v.round.ID}, &in)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, err.Error())
				log.Warn("round input", "from", string(org), "err", err)
				return
			}
			inputs[org] = in
		}()
	}
	wg.Wait()
	if len(inputs) < contracts.MinInputs(v.contract) {
		return nil, fmt.Errorf("round %s: %d of %d participants sent an input, %d needed: %v", v.round.ID, len(inputs), len(v.contract.Participants), contracts.MinInputs(v.contract), failed)
	}
	return inputs, nil
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

// maskedValues is what phase 2 decrypts, as the aggregator and every
// decryptor compute it each for itself: the sum of the inputs' values with
// every cell under the cohort floor masked to zero, the floor judged on the
// counts the phase-1 shares open. keepCell says which cells are released.
func maskedValues(p privacy.Params, v *roundView, inputs map[kpi.OrgID]roundInput, countShares []privacy.Ciphertexts) (privacy.Ciphertexts, []bool, error) {
	countsAgg, err := sumInputs(p, inputs, false)
	if err != nil {
		return nil, nil, err
	}
	counts, err := privacy.Open(p, countsAgg, countShares, len(v.contract.Cells()))
	if err != nil {
		return nil, nil, fmt.Errorf("round %s: the counts do not open: %w", v.round.ID, err)
	}
	keepCell, keep := keepCells(v.contract, counts)
	values, err := sumInputs(p, inputs, true)
	if err != nil {
		return nil, nil, err
	}
	masked, err := privacy.Mask(p, values, keep)
	return masked, keepCell, err
}

// releaseCells turns the opened component sums into the released cells:
// values for the kept cells, neither count nor value for the others.
func releaseCells(c *contracts.Contract, sums []*big.Int, keepCell []bool) ([]releasedCell, int, error) {
	comps := make([]int64, len(sums))
	for i, s := range sums {
		if !s.IsInt64() {
			return nil, 0, fmt.Errorf("component %d overflows 64 bits", i)
		}
		comps[i] = s.Int64()
	}
	// Noise can make a count negative: a count is at least 0 (post-processing).
	for i := 0; i < len(comps); i += c.Width() {
		comps[i] = max(comps[i], 0)
	}
	cells, err := c.Release(comps)
	if err != nil {
		return nil, 0, err
	}
	released := make([]releasedCell, len(cells))
	suppressed := 0
	for i, cell := range cells {
		released[i] = releasedCell{Group: cell.Group}
		if !keepCell[i] {
			released[i].Suppressed = true
			suppressed++
			continue
		}
		n := cell.Count
		released[i].Count, released[i].Value = &n, cell.Value
	}
	return released, suppressed, nil
}

// releasedCell is a cell as a release publishes it: a suppressed cell
// shows neither its count nor its value.
type releasedCell struct {
	Group      map[string]string `json:"group"`
	Count      *int64            `json:"count"`
	Value      any               `json:"value"`
	Suppressed bool              `json:"suppressed"`
}
