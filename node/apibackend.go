package node

import (
	"context"
	"errors"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/api"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/rounds"
	"github.com/cxnet/cxnet/privacy"
)

// inputError is an error in what the user sent: the API answers 422.
type inputError struct{ msg string }

func (e inputError) Error() string        { return e.msg }
func (e inputError) Is(target error) bool { return target == api.ErrInput }

// apiBackend is what the local API asks of the node (api.Backend).
type apiBackend struct{ n *Node }

var _ api.Backend = apiBackend{}

func (b apiBackend) Ready() bool { return b.n.ready.Load() }

func (b apiBackend) Status() client.Status {
	n, c := b.n, b.n.cons
	st := client.Status{Org: n.cfg.Org, Name: n.cfg.Name, Kind: n.cfg.Kind, PeerID: n.home.PeerID.String(),
		Ready: n.ready.Load(), Version: Version, API: n.apiAddr, Started: n.started.UTC(), Keys: c.keys.Info()}
	for _, a := range c.host.Addrs() {
		st.Listen = append(st.Listen, a.String())
	}
	st.Raft.State, st.Raft.Leader = c.raft.state()
	st.Raft.LastIndex, st.Raft.AppliedIndex, st.Raft.SnapshotIndex = c.raft.indexes()
	rc := n.cfg.Raft
	st.Raft.Timings = &client.RaftTimings{Heartbeat: rc.Heartbeat.String(), Election: rc.Election.String(),
		LeaderLease: rc.LeaderLease.String(), DeadVoterAfter: rc.DeadVoterAfter.String(),
		SnapshotThreshold: rc.SnapshotThreshold, TrailingLogs: rc.TrailingLogs, SnapshotInterval: rc.SnapshotInterval.String()}
	c.fsm.Read(func(s *contracts.State) {
		if cs, ok := s.Consortium(); ok {
			st.Consortium, st.ConsortiumID = cs.Name, cs.ID
		}
		st.Members = s.AdmittedCount()
	})
	return st
}

func (b apiBackend) Identity() kpi.Member    { return b.n.cons.identity() }
func (b apiBackend) UsePSK(psk []byte) error { return b.n.cons.usePSK(psk) }

func (b apiBackend) Create(ctx context.Context, name string, minCohort int) error {
	_, err := b.n.cons.create(ctx, name, minCohort)
	return err
}

func (b apiBackend) Join(ctx context.Context, via string) error {
	_, err := b.n.cons.join(ctx, via)
	return err
}

func (b apiBackend) Sign(t contracts.EntryType, body any) ([]byte, error) {
	return b.n.cons.sign(t, body)
}

func (b apiBackend) Submit(ctx context.Context, e []byte) (contracts.Event, error) {
	return b.n.cons.raft.submit(ctx, e)
}

func (b apiBackend) Sync(ctx context.Context) error               { return b.n.cons.raft.sync(ctx) }
func (b apiBackend) Freshen(ctx context.Context)                  { b.n.cons.raft.freshen(ctx) }
func (b apiBackend) Servers() (voters, nonvoters map[string]bool) { return b.n.cons.raft.servers() }
func (b apiBackend) ReaderKey() (*privacy.ReaderKey, error)       { return b.n.cons.keys.ReaderKey() }

func (b apiBackend) RunRound(ctx context.Context, id kpi.ContractID) (string, []client.TraceStep, error) {
	round, tr, err := b.n.cons.rounds.Run(ctx, id)
	if f := (*rounds.Failure)(nil); errors.As(err, &f) {
		err = roundFailed{err} // recorded in the log with its reason: `cxnet round list` shows it
	} else if errors.Is(err, rounds.ErrNoActiveContract) {
		err = inputError{err.Error()}
	}
	var steps []client.TraceStep
	if tr != nil {
		steps = tr.Steps()
	}
	return round, steps, err
}

// ImportRefused asks for a value-log GC soon.
func (b apiBackend) ImportRefused() {
	select {
	case b.n.gcNow <- struct{}{}:
	default:
	}
}

// roundFailed is a round failure as the API sees it.
type roundFailed struct{ error }

func (e roundFailed) Unwrap() error        { return e.error }
func (e roundFailed) Is(target error) bool { return target == api.ErrRoundFailed }
