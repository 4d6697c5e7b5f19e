package rounds

// A member's side of a round: what this node answers the round's
// aggregator (protocol/round's Backend), after checking the round and
// its policy against its own state (the package comment has the steps).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol/round"
)

// roundBackend answers the round protocol for this node
// (protocol/round): every request is checked against this node's state,
// synced with the leader (Config.Sync), by serve, then by the step's own
// policy.
type roundBackend struct{ m *Manager }

// roundServer is this node's round backend.
func (m *Manager) roundServer() roundBackend { return roundBackend{m} }

func (b roundBackend) Commit(ctx context.Context, from peer.ID, req *round.Request) (*round.Commitment, error) {
	return serveAs(b, ctx, from, req, func(v *roundView) (*round.Commitment, error) {
		if err := b.m.guard.allow(v.round.Aggregator, string(v.round.ID)); err != nil {
			return nil, err
		}
		return b.m.commitInput(ctx, v)
	})
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
