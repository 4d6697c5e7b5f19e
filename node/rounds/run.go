package rounds

// The aggregator's side of a round: Run opens a round, drives its
// steps (round.go) to the release, and records why when it fails; every
// member records a round whose aggregator stopped answering.

import (
	"context"
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
)

// Call sends a round request to a member's node (or serves it locally
// when the member is this node) and decodes the reply into out.
func (m *Manager) Call(ctx context.Context, org kpi.OrgID, req round.Request, out any) error {
	h := m.cfg.Host()
	if org == m.cfg.Org {
		reply, err := round.Dispatch(ctx, m.roundServer(), h.ID(), &req)
		if err != nil {
			return fmt.Errorf("%s: %w", org, err)
		}
		b, err := round.Encode(reply) // the same reply as over the wire
		if err != nil {
			return err
		}
		return round.DecodeReply(b, out)
	}
	var pid peer.ID
	m.cfg.State(func(s *contracts.State) {
		if mem, ok := s.Member(org); ok {
			pid, _ = peer.Decode(mem.Member.PeerID)
		}
	})
	cl := round.NewClient(h, roundLimits)
	if f := m.dev().Tap; f != nil {
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

// Failure is a round that failed, as Run reports it: the
// reason is recorded in the log.
type Failure struct {
	round  string
	reason string
	blame  []kpi.OrgID
}

func (f *Failure) Error() string { return "round " + f.round + " failed: " + f.reason }

// ErrNoActiveContract is what Run returns, wrapped, when the contract
// asked for is not an active contract of the consortium: the caller's
// mistake; the error's text says what to do.
var ErrNoActiveContract = errors.New("no active contract")

type contractError struct{ msg string }

func (e contractError) Error() string        { return e.msg }
func (e contractError) Is(target error) bool { return target == ErrNoActiveContract }

// describe lists the members that failed and why, sorted.
func describe(errs map[kpi.OrgID]error) (string, []kpi.OrgID) {
	orgs := slices.Sorted(maps.Keys(errs))
	parts := make([]string, len(orgs))
	for i, o := range orgs {
		parts[i] = errs[o].Error()
	}
	return strings.Join(parts, "; "), orgs
}

// Run opens a round of contract id, aggregates it and publishes its
// release. It returns the round id. A round that fails is recorded as
// failed in the log, with the reason.
func (m *Manager) Run(ctx context.Context, id kpi.ContractID) (string, *Trace, error) {
	var (
		rec  contracts.ContractRecord
		keys contracts.KeyEpoch
		ok   bool
	)
	m.cfg.State(func(s *contracts.State) {
		rec, ok = s.Contract(id)
		keys, _ = s.Keys()
	})
	if !ok {
		return "", nil, contractError{fmt.Sprintf("no contract %q in this consortium: see `cxnet contract list`", id)}
	}
	if rec.State != contracts.ContractActive {
		return "", nil, contractError{fmt.Sprintf("%s v%d is %s; a round needs an active contract (approved, and the consortium's key covering its participants: see `cxnet status`)", id, rec.Version, rec.State)}
	}
	timeout := m.cfg.Timeout
	tr := newTrace()
	tr.step("open (raft commit)")
	entry, err := m.cfg.Sign(contracts.EntryRoundOpen, contracts.RoundOpen{Contract: id, Version: rec.Version, Hash: rec.Hash, Epoch: keys.Epoch})
	if err != nil {
		return "", nil, err
	}
	ev, err := m.cfg.Submit(ctx, entry)
	if err != nil {
		return "", nil, err
	}
	roundID := ev.Object
	m.guard.running(roundID, true)
	defer m.guard.running(roundID, false)
	log := m.log.With("round", roundID)
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = m.aggregate(actx, roundID, log, tr)
	tr.done()
	var f *Failure
	switch {
	case err == nil:
		log.Info("round trace", "steps", tr.String())
		return roundID, tr, nil
	case errors.As(err, &f):
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		f = &Failure{round: roundID, reason: fmt.Sprintf("timed out after %v (round.timeout) at step %q: %v", timeout, tr.current(), err)}
	default:
		f = &Failure{round: roundID, reason: fmt.Sprintf("step %q: %v", tr.current(), err)}
	}
	log.Warn("round failed", "reason", f.reason, "steps", tr.String())
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	if rerr := m.recordFailure(rctx, f); rerr != nil {
		log.Warn("record the round's failure", "err", rerr)
	}
	return roundID, tr, f
}

// FailStale records as failed every ongoing round this node takes
// part in whose aggregator stopped answering: still ongoing round.timeout
// after this node applied its opening (members report one after another,
// half a second apart, so that usually one failure is recorded). A round this
// node aggregates is left to Run, unless this node is not running it
// (it restarted).
func (m *Manager) FailStale(ctx context.Context, now time.Time) {
	org := m.cfg.Org
	timeout := m.cfg.Timeout
	type stale struct {
		r    contracts.Round
		rank int
	}
	var ongoing []stale
	m.cfg.State(func(s *contracts.State) {
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
			ongoing = append(ongoing, stale{r, pt})
		}
	})
	for _, st := range ongoing {
		r := st.r
		seen := m.guard.firstSeen(string(r.ID), now)
		if r.Aggregator == org && m.guard.isRunning(string(r.ID)) {
			continue
		}
		wait := timeout + time.Duration(st.rank)*500*time.Millisecond
		if now.Sub(seen) < wait {
			continue
		}
		f := &Failure{round: string(r.ID), reason: fmt.Sprintf("aggregator %s stopped answering: the round was still %s %v after %s saw it open (round.timeout %v)",
			r.Aggregator, r.State, now.Sub(seen).Round(time.Second), org, timeout)}
		if err := m.recordFailure(ctx, f); err != nil && ctx.Err() == nil {
			m.log.Warn("record a stale round's failure", "round", r.ID, "err", err)
			continue
		}
		m.log.Warn("round failed: its aggregator stopped answering", "round", r.ID, "aggregator", string(r.Aggregator))
	}
}

// Trace times the steps of a round this node aggregates.
type Trace struct {
	start time.Time
	steps []traceStep
}

type traceStep struct {
	Name     string
	Duration time.Duration
	at       time.Time
}

func newTrace() *Trace { return &Trace{start: time.Now()} }

// step ends the current step and starts the next.
func (t *Trace) step(name string) {
	if t == nil {
		return
	}
	t.done()
	t.steps = append(t.steps, traceStep{Name: name, at: time.Now()})
}

// done ends the current step.
func (t *Trace) done() {
	if t == nil || len(t.steps) == 0 {
		return
	}
	if last := &t.steps[len(t.steps)-1]; last.Duration == 0 {
		last.Duration = time.Since(last.at)
	}
}

// current names the step under way (or the last).
func (t *Trace) current() string {
	if t == nil || len(t.steps) == 0 {
		return ""
	}
	return t.steps[len(t.steps)-1].Name
}

// Steps is the trace as the API gives it: never nil, for a round this
// node ran.
func (t *Trace) Steps() []client.TraceStep {
	out := []client.TraceStep{}
	if t == nil {
		return out
	}
	for _, s := range t.steps {
		out = append(out, client.TraceStep{Step: s.Name, Seconds: s.Duration.Seconds()})
	}
	return append(out, client.TraceStep{Step: "total", Seconds: time.Since(t.start).Seconds()})
}

func (t *Trace) String() string {
	var b strings.Builder
	for _, s := range t.steps {
		fmt.Fprintf(&b, "%s=%v ", s.Name, s.Duration.Round(100*time.Microsecond))
	}
	fmt.Fprintf(&b, "total=%v", time.Since(t.start).Round(100*time.Microsecond))
	return b.String()
}

// recordFailure records a failed round in the log, unless it has ended.
func (m *Manager) recordFailure(ctx context.Context, f *Failure) error {
	var r contracts.Round
	m.cfg.State(func(s *contracts.State) { r, _ = s.Round(kpi.RoundID(f.round)) })
	if !r.State.Ongoing() {
		return nil
	}
	reason := f.reason
	if len(reason) > 900 {
		reason = reason[:900] + "…"
	}
	entry, err := m.cfg.Sign(contracts.EntryRoundFail, contracts.RoundFail{Round: kpi.RoundID(f.round), Reason: reason, Blame: f.blame})
	if err != nil {
		return err
	}
	_, err = m.cfg.Submit(context.WithoutCancel(ctx), entry)
	return err
}

// aggregate runs an opened round to its release (steps 2 to 8 at the top
// of this file).
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
	tr.step("commit (participants encrypt, raft commits)")
	_, errs := fanOut(v.contract.Participants, func(org kpi.OrgID) (struct{}, error) {
		var ok struct{}
		return ok, m.Call(ctx, org, round.Request{Op: round.OpCommit, Round: roundID}, &ok)
	})
	for org, err := range errs {
		log.Warn("round input", "from", string(org), "err", err)
	}
	// 3. seal: the state machine fixes the inputs.
	tr.step("seal (raft commit)")
	if err := m.cfg.Sync(ctx); err != nil {
		return err
	}
	if f := m.dev().BeforeSeal; f != nil {
		f(roundID)
	}
	entry, err := m.cfg.Sign(contracts.EntryRoundSeal, contracts.RoundSeal{Round: kpi.RoundID(roundID)})
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
	if len(errs) > 0 {
		why, blame := describe(errs)
		return fail("sealed inputs missing: "+why, blame...)
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
	if len(errs) > 0 {
		why, blame := describe(errs)
		return fail("decryption: "+why, blame...)
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
	if len(errs) > 0 {
		why, blame := describe(errs)
		return fail("pads: "+why, blame...)
	}
	// 8. release
	tr.step("release (raft commit)")
	rel := contracts.RoundRelease{Round: kpi.RoundID(roundID), Decryptors: active, Opened: *asked, Attest: sigs, Pads: pads, SealedCounts: sealedCounts}
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
	if len(errs) > 0 {
		why, blame := describe(errs)
		return nil, &Failure{round: string(v.round.ID), reason: fmt.Sprintf("fingerprints of the %ss: %s", of, why), blame: blame}
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
