package rounds

// A participant's input to a round: computed, encrypted and kept once,
// registered in the log, handed over only once the round is sealed, and
// fingerprinted against the sum it is in.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/store"
)

// commitInput computes, encrypts and keeps this participant's input to a
// round, once, and returns its commitment: the signed round.input entry
// the aggregator's seal carries. Asked again, it gives the same.
func (m *Manager) commitInput(ctx context.Context, v *roundView) (*round.Commitment, error) {
	org := m.cfg.Org
	if !slices.Contains(v.contract.Participants, org) {
		return nil, fmt.Errorf("%s is not a participant of %s", org, v.contract.ID)
	}
	m.guard.inputMu.Lock()
	defer m.guard.inputMu.Unlock()
	in, err := m.keptInput(v)
	if errors.Is(err, store.ErrNoSecret) {
		in, err = m.newInput(ctx, v)
	}
	if err != nil {
		return nil, err
	}
	m.log.Info("round input committed", "round", v.round.ID)
	return &round.Commitment{Entry: in.Entry}, nil
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
	if in.Entry, err = m.cfg.Sign(contracts.EntryRoundInput, contracts.RoundInput{Round: v.round.ID, Digest: inputDigest(&in.Input)}); err != nil {
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
