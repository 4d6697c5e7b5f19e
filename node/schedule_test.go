package node

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
)

const peerB = "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"

// scheduledConsortium is org's node (a state machine, no store, no
// network) in a keyed consortium of hosp-a, hosp-b and hosp-c where the
// daily contract nps-daily is active.
func scheduledConsortium(t *testing.T, org string) *consortium {
	t.Helper()
	keys := map[kpi.OrgID]ed25519.PrivateKey{}
	for _, o := range []kpi.OrgID{"hosp-a", "hosp-b", "hosp-c"} {
		_, keys[o], _ = ed25519.GenerateKey(nil)
	}
	cfg := Config{Org: org, Loops: LoopConfig{Schedule: 5 * time.Second}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := newConsortium(&Home{GovernanceKey: keys[kpi.OrgID(org)]}, cfg, nil, slog.New(slog.DiscardHandler), func(contracts.Event) {}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	index := uint64(0)
	apply := func(typ contracts.EntryType, body any, org kpi.OrgID) {
		t.Helper()
		entry, err := contracts.Sign(typ, body, org, keys[org], c.consortiumID())
		if err != nil {
			t.Fatal(err)
		}
		index++
		if res := c.fsm.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: entry}).(*contracts.ApplyResult); res.Err != nil {
			t.Fatalf("%s by %s: %v", typ, org, res.Err)
		}
	}
	member := func(org kpi.OrgID, p string) kpi.Member {
		m := kpi.Member{Org: org, Name: string(org), Kind: "hospital", PeerID: p}
		m.Sign(keys[org])
		return m
	}
	apply(contracts.EntryGenesis, contracts.Genesis{Name: "schedule", Founder: member("hosp-a", "12D3KooWQaGJmgg3FL8sLYtGqrGrStgmbC3S5foSGHcsAoJSHKUp"),
		AdmissionRule: contracts.AdmissionMajority}, "hosp-a")
	apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: member("hosp-b", peerB)}, "hosp-a")
	c3 := member("hosp-c", "12D3KooWPtfMgpnHgTxG9WPa3h7DU5T8Ff8BQJkkfoKFMZmeJeHN")
	apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: c3}, "hosp-a")
	apply(contracts.EntryAdmitApprove, contracts.AdmitApprove{Org: "hosp-c", DescriptorHash: contracts.DescriptorHash(c3)}, "hosp-b")
	orgs := []kpi.OrgID{"hosp-a", "hosp-b", "hosp-c"}
	apply(contracts.EntryKeysOpen, contracts.KeysOpen{Epoch: 1, Members: orgs, Threshold: 2, Seed: strings.Repeat("ab", 32), Params: c.params.Name()}, "hosp-a")
	rk, _ := c.keys.ReaderKey()
	for _, o := range orgs {
		apply(contracts.EntryKeysCommit, contracts.KeysCommit{Epoch: 1, Digest: contracts.KeyShareDigest(1, o, []byte(o)), ReaderKey: rk.Public()}, o)
	}
	for _, o := range orgs {
		apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: []byte(o)}, o)
	}
	ct, err := contracts.Parse([]byte("id: nps-daily\nversion: 1\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b, hosp-c]\n"+
		"approvals: all\nprivacy: {min_cohort: 11}\nschedule: 1d\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	apply(contracts.EntryContractPropose, contracts.ContractPropose{Contract: ct.Canonical(), Hash: ct.Hash()}, "hosp-a")
	for _, o := range orgs[1:] {
		apply(contracts.EntryContractApprove, contracts.ContractApprove{ID: ct.ID, Version: 1, Hash: ct.Hash()}, o)
	}
	var state contracts.ContractState
	c.fsm.Read(func(s *contracts.State) { rec, _ := s.Contract("nps-daily"); state = rec.State })
	if state != contracts.ContractActive {
		t.Fatalf("nps-daily is %s, want active", state)
	}
	return c
}

// TestScheduleLoopUnderSynctest: each node looks for the rounds due to it
// every Loops.Schedule, on the config's clock. With nobody opening a
// round, the first participant in sorted order (hosp-a) finds the daily
// contract's first round due at once; hosp-b, next in turn, only a grace
// minute later, as a stand-in — in a bubble where a minute passes at
// once.
func TestScheduleLoopUnderSynctest(t *testing.T) {
	for _, tc := range []struct {
		org   string
		after time.Duration // when the round is first due to org
	}{
		{"hosp-a", 0},
		{"hosp-b", time.Minute},
		{"hosp-c", 2 * time.Minute},
	} {
		t.Run(tc.org, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := scheduledConsortium(t, tc.org)
				start := c.cfg.Now()
				ctx, cancel := context.WithCancel(t.Context())
				seen := map[kpi.ContractID]time.Time{}
				var first time.Duration = -1
				looks := 0
				done := make(chan struct{})
				go func() {
					defer close(done)
					every(ctx, c.cfg.Loops.Schedule, func() {
						looks++
						if due := c.dueRounds(c.cfg.Now(), seen); len(due) > 0 && first < 0 {
							first = c.cfg.Now().Sub(start)
						}
					})
				}()
				time.Sleep(3 * time.Minute)
				synctest.Wait()
				cancel()
				<-done
				if first != tc.after {
					t.Fatalf("the round was first due to %s after %v, want %v", tc.org, first, tc.after)
				}
				if want := int(3*time.Minute/c.cfg.Loops.Schedule) + 1; looks != want {
					t.Fatalf("%d looks in 3 minutes, want %d (one every %v)", looks, want, c.cfg.Loops.Schedule)
				}
			})
		})
	}
}
