package rounds

// A decryptor's share of a round's sum, its attestation of what the
// shares open, and a participant's pads of the cells that reach the
// floor: each given only once this member checked the policy itself.

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/store"
)

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
	if len(req.Digest) > 0 {
		// The pads are summed: the fingerprint of this participant's
		// against the sum, for the log (contracts/padsum.go).
		if len(v.contract.Readers) > 0 {
			return nil, deviated(fmt.Errorf("round %s: the pads of a contract with readers are sealed to them, never summed", v.round.ID))
		}
		f := contracts.PadPrint(req.Digest, pads, 8)
		return &round.Pads{Print: f.String(), Sig: m.roundSign(contracts.PadPrintBytes(v.cid, v.round.ID, attest, req.Digest, f))}, nil
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
