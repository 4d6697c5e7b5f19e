package rounds

// The aggregator's side of a round: Run opens a round, drives its
// steps (aggregate.go) to the release, and records why when it fails; every
// member records a round whose aggregator stopped answering.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
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

// failedAt is round id's failure at step when some members failed it
// (errs), naming them; nil when none did.
func failedAt(id, step string, errs map[kpi.OrgID]error) error {
	if len(errs) == 0 {
		return nil
	}
	why, blame := describe(errs)
	return &Failure{round: id, reason: step + ": " + why, blame: blame}
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
	_, err = m.cfg.Submit(ctx, entry) // bounded by the caller: an aggregator cut off from raft does not wait for governance's 30 s leader search
	return err
}
