package rounds

// The aggregator's steps of a round it opened (2 to 8 in the package
// comment): it calls the members, checks what they send as the members
// will, and fails the round naming the member that failed or deviated.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
)

// aggregate runs an opened round to its release (steps 2 to 8 in the
// package comment).
func (m *Manager) aggregate(ctx context.Context, roundID string, log *slog.Logger, tr *Trace) error {
	fail := func(reason string, blame ...kpi.OrgID) error {
		return &Failure{round: roundID, reason: reason, blame: blame}
	}
	v, err := m.roundView(roundID, contracts.RoundCollecting)
	if err != nil {
		return err
	}
	log.Info("round opened", "participants", len(v.contract.Participants))

	// 2. commit
	tr.step("commit (participants encrypt and sign their commitments)")
	commits, errs := fanOut(v.contract.Participants, func(org kpi.OrgID) ([]byte, error) {
		var c round.Commitment
		if err := m.Call(ctx, org, round.Request{Op: round.OpCommit, Round: roundID}, &c); err != nil {
			return nil, err
		}
		e, err := contracts.DecodeEntry(c.Entry)
		if err != nil {
			return nil, fmt.Errorf("%s's commitment: %w", org, err)
		}
		if in, ok := e.Value.(*contracts.RoundInput); !ok || e.Org != org || string(in.Round) != roundID {
			return nil, fmt.Errorf("%s's commitment is not its round.input entry of round %s", org, roundID)
		}
		return c.Entry, nil
	})
	for org, err := range errs {
		log.Warn("round input", "from", string(org), "err", err)
	}
	// 3. seal: the state machine registers the commitments and fixes the
	// inputs.
	tr.step("seal (raft commit of the commitments)")
	if f := m.dev().BeforeSeal; f != nil {
		f(roundID)
	}
	var carried [][]byte
	for _, org := range slices.Sorted(maps.Keys(commits)) {
		carried = append(carried, commits[org])
	}
	entry, err := m.cfg.Sign(contracts.EntryRoundSeal, contracts.RoundSeal{Round: kpi.RoundID(roundID), Inputs: carried})
	if err != nil {
		return err
	}
	if _, err := m.cfg.Submit(ctx, entry); err != nil {
		return fail("seal: " + err.Error())
	}
	if v, err = m.roundView(roundID, contracts.RoundSealed); err != nil {
		var r contracts.Round
		m.cfg.State(func(s *contracts.State) { r, _ = s.Round(kpi.RoundID(roundID)) })
		if r.State == contracts.RoundFailed {
			msg := r.Reason
			if len(errs) > 0 {
				why, _ := describe(errs)
				msg += " (" + why + ")"
			}
			return &Failure{round: roundID, reason: msg} // recorded by the seal
		}
		return err
	}
	// 4. fetch
	tr.step("fetch")
	inputs, errs := fanOut(v.round.Sealed, func(org kpi.OrgID) (round.Input, error) {
		var in round.Input
		if err := m.Call(ctx, org, round.Request{Op: round.OpFetch, Round: roundID}, &in); err != nil {
			return in, err
		}
		if inputDigest(&in) != v.round.Inputs[org] {
			return in, fmt.Errorf("%s sent another input than the one it registered", org)
		}
		return in, nil
	})
	if err := failedAt(roundID, "sealed inputs missing", errs); err != nil {
		return err
	}
	if f := m.dev().Inputs; f != nil {
		f(roundID, inputs)
	}
	// 5. print, decrypt
	tr.step("print (participants fingerprint their inputs)")
	sumCts, err := sumInputs(m.cfg.Params, inputs)
	if err != nil {
		return fail("sum the inputs: " + err.Error())
	}
	sum := round.Input{Ciphertexts: sumCts}
	inputPrints, err := m.collectPrints(ctx, v, round.OfInput, &sum, v.round.Sealed, func(org kpi.OrgID) *round.Input {
		in := inputs[org]
		return &in
	})
	if err != nil {
		return err
	}
	tr.step("decrypt (decryptors check the sum and share)")
	active := m.thresholdSet(v)
	shares, errs := fanOut(active, func(org kpi.OrgID) (round.Share, error) {
		var sh round.Share
		err := m.Call(ctx, org, round.Request{Op: round.OpDecrypt, Round: roundID, Active: active, Sum: &sum, Prints: inputPrints}, &sh)
		return sh, err
	})
	if err := failedAt(roundID, "decryption", errs); err != nil {
		return err
	}
	if err := m.verifyShares(v, active, shares); err != nil {
		return fail("decryption: " + err.Error())
	}
	if f := m.dev().Shares; f != nil {
		f(roundID, shares)
	}
	// 6. print, attest
	tr.step("open (aggregator sums the shares and opens)")
	summed := active
	if f := m.dev().ShareParts; f != nil {
		summed = f(active)
	}
	parts := make([]privacy.Ciphertexts, 0, len(summed))
	for _, o := range summed {
		parts = append(parts, shares[o].Ciphertexts)
	}
	h, err := privacy.SumShares(m.cfg.Params, parts)
	if err != nil {
		return fail("sum the shares: " + err.Error())
	}
	shareSum := round.Input{Ciphertexts: h}
	opened, err := openShares(m.cfg.Params, v.contract, sum.Ciphertexts, []privacy.Ciphertexts{h})
	if err != nil {
		return fail("open: " + err.Error())
	}
	tr.step("print (decryptors fingerprint their shares)")
	sharePrints, err := m.collectPrints(ctx, v, round.OfShare, &shareSum, active, func(org kpi.OrgID) *round.Input {
		return &round.Input{Ciphertexts: shares[org].Ciphertexts}
	})
	if err != nil {
		return err
	}
	tr.step("attest")
	attest := contracts.AttestBytes(v.cid, kpi.RoundID(roundID), v.round.Epoch, active, opened)
	sigs, errs := fanOut(active, func(org kpi.OrgID) ([]byte, error) {
		var sig []byte
		if err := m.Call(ctx, org, round.Request{Op: round.OpAttest, Round: roundID, Active: active, Sum: &shareSum, Prints: sharePrints}, &sig); err != nil {
			return nil, err
		}
		var verr error
		m.cfg.State(func(s *contracts.State) { verr = s.VerifyMember(org, attest, sig) })
		if verr != nil {
			return nil, fmt.Errorf("%s attests other opened cells than the aggregator's", org)
		}
		return sig, nil
	})
	if err := failedAt(roundID, "attestation", errs); err != nil {
		return err
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
		info := contracts.SealInfo(v.cid, kpi.RoundID(roundID), "counts", m.cfg.Org)
		for _, r := range v.contract.Readers {
			if sealedCounts[r], err = privacy.SealTo(v.keys.ReaderKeys[r], info, counts); err != nil {
				return fail(fmt.Sprintf("seal the counts to reader %s: %v", r, err))
			}
		}
	}
	if f := m.dev().Opened; f != nil {
		asked = &kpi.Opened{Keep: slices.Clone(asked.Keep), Counts: slices.Clone(asked.Counts), CountsDigest: asked.CountsDigest, Sums: asked.Sums}
		f(roundID, asked)
	}
	pads, errs := fanOut(v.round.Sealed, func(org kpi.OrgID) (contracts.SignedPads, error) {
		var p round.Pads
		err := m.Call(ctx, org, round.Request{Op: round.OpPads, Round: roundID, Active: active, Opened: asked, Attest: sigs}, &p)
		return contracts.SignedPads{Pads: p.Pads, Sealed: p.Sealed, Sig: p.Sig}, err
	})
	if err := failedAt(roundID, "pads", errs); err != nil {
		return err
	}
	rel := contracts.RoundRelease{Round: kpi.RoundID(roundID), Decryptors: active, Opened: *asked, Attest: sigs, Pads: pads, SealedCounts: sealedCounts}
	if len(v.contract.Readers) == 0 {
		tr.step("pad sum (participants fingerprint their pads)")
		if err := m.sumPads(ctx, v, &rel); err != nil {
			return err
		}
	}
	// 8. release
	tr.step("release (raft commit)")
	if f := m.dev().Release; f != nil {
		f(&rel)
	}
	entry, err = m.cfg.Sign(contracts.EntryRoundRelease, rel)
	if err != nil {
		return err
	}
	if _, err := m.cfg.Submit(ctx, entry); err != nil {
		return fail("release refused: " + err.Error())
	}
	log.Info("round released", "inputs", len(v.round.Sealed), "kept", len(opened.Keep), "cells", len(v.contract.Cells()))
	return nil
}

// collectPrints asks each of orgs for its signed fingerprint of its part
// (an input or a share) against sum, and checks them as the decryptors
// will: when they do not add up to sum's, it finds the member whose
// fingerprint is not of the part it sent (part returns it), and fails the
// round naming it.
func (m *Manager) collectPrints(ctx context.Context, v *roundView, of round.Of, sum *round.Input, orgs []kpi.OrgID, part func(kpi.OrgID) *round.Input) (map[kpi.OrgID]round.Print, error) {
	digest := sumDigest(of, sum)
	prints, errs := fanOut(orgs, func(org kpi.OrgID) (round.Print, error) {
		var pr round.Print
		err := m.Call(ctx, org, round.Request{Op: round.OpPrint, Round: string(v.round.ID), Of: of, Digest: digest}, &pr)
		return pr, err
	})
	if err := failedAt(string(v.round.ID), fmt.Sprintf("fingerprints of the %ss", of), errs); err != nil {
		return nil, err
	}
	err := m.checkPrints(v, of, sum, prints, orgs)
	if err == nil || m.dev().Unchecked {
		return prints, nil
	}
	seed := printSeed(v.cid, v.round.ID, of, digest)
	for _, org := range orgs {
		fp, ferr := fingerprint(m.cfg.Params, of, part(org), seed)
		if ferr == nil && !slices.Equal(fp, prints[org].Fingerprint) {
			return nil, &Failure{round: string(v.round.ID), blame: []kpi.OrgID{org},
				reason: fmt.Sprintf("%s sent a fingerprint that is not of the %s it sent", org, of)}
		}
	}
	return nil, &Failure{round: string(v.round.ID), reason: err.Error()}
}

// thresholdSet picks the members to decrypt a round: participants first
// (a participant that deviates as a decryptor can do no more than with
// its own input), then this node, then members it is connected to
// (likely up), then the others; exactly the threshold of them, sorted.
func (m *Manager) thresholdSet(v *roundView) []kpi.OrgID {
	candidates := slices.Clone(v.keys.Members)
	rank := m.decryptorRank()
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
func (m *Manager) decryptorRank() func(kpi.OrgID) int {
	peers := map[kpi.OrgID]peer.ID{}
	m.cfg.State(func(s *contracts.State) {
		for _, mem := range s.Members() {
			if id, err := peer.Decode(mem.Member.PeerID); err == nil {
				peers[mem.Member.Org] = id
			}
		}
	})
	return func(org kpi.OrgID) int {
		switch {
		case org == m.cfg.Org:
			return 0
		case m.cfg.Host().Network().Connectedness(peers[org]) == network.Connected:
			return 1
		}
		return 2
	}
}

// sumPads replaces a release's pads by their sum and each input's signed
// fingerprint of its pads against it (contracts/padsum.go): the log then
// holds the pads of the kept components once, not once an input. A
// fingerprint that is not of the pads its participant revealed fails the
// round, naming it.
func (m *Manager) sumPads(ctx context.Context, v *roundView, rel *contracts.RoundRelease) error {
	id := string(v.round.ID)
	each := make([][]byte, len(v.round.Sealed))
	for i, org := range v.round.Sealed {
		each[i] = rel.Pads[org].Pads
	}
	sum, err := contracts.SumPads(each)
	if err != nil {
		return &Failure{round: id, reason: "sum the pads: " + err.Error()}
	}
	if f := m.dev().PadSum; f != nil {
		f(sum)
	}
	digest := contracts.PadSumDigest(v.cid, v.round.ID, sum)
	prints, errs := fanOut(v.round.Sealed, func(org kpi.OrgID) (contracts.SignedPadPrint, error) {
		var p round.Pads
		err := m.Call(ctx, org, round.Request{Op: round.OpPads, Round: id, Active: rel.Decryptors, Opened: &rel.Opened, Attest: rel.Attest, Digest: digest}, &p)
		return contracts.SignedPadPrint{Print: p.Print, Sig: p.Sig}, err
	})
	if err := failedAt(id, "pads' fingerprints", errs); err != nil {
		return err
	}
	for i, org := range v.round.Sealed {
		if want := contracts.PadPrint(digest, each[i], 8).String(); prints[org].Print != want {
			return &Failure{round: id, reason: fmt.Sprintf("%s sent a fingerprint that is not of the pads it revealed", org), blame: []kpi.OrgID{org}}
		}
	}
	rel.Pads, rel.PadSum, rel.PadPrints = nil, sum, prints
	return nil
}
