package contracts

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/cxnet/cxnet/kpi"
)

var (
	orgA = newTestOrg("hosp-a")
	orgB = newTestOrg("hosp-b")
	orgC = newTestOrg("pharma-x")
	orgD = newTestOrg("pharm-y")
	orgE = newTestOrg("payer-z")
	orgX = newTestOrg("outsider") // never admitted
)

// TestConsortiumFormation: four organisations form a consortium by
// majority admission, approvals needed growing with the membership.
func TestConsortiumFormation(t *testing.T) {
	g := newGovLog(t)
	steps := []struct {
		name         string
		entry        func() []byte
		wantType     string
		wantNeeded   string
		wantAdmitted int
	}{
		{"a founds", func() []byte {
			return g.sign(EntryGenesis, Genesis{Header: hdr(), Name: "Diabetes journey", Founder: orgA.desc}, orgA)
		}, EventConsortiumCreated, "", 1},
		{"1->2: a proposes b, admitted at once", func() []byte { return g.propose(orgA, orgB) }, EventMemberAdmitted, "1", 2},
		{"2->3: a proposes c, needs 2", func() []byte { return g.propose(orgA, orgC) }, EventMemberProposed, "2", 2},
		{"2->3: b approves c", func() []byte { return g.approveMember(orgB, orgC) }, EventMemberAdmitted, "2", 3},
		{"3->4: c proposes d, needs 2", func() []byte { return g.propose(orgC, orgD) }, EventMemberProposed, "2", 3},
		{"3->4: a approves d", func() []byte { return g.approveMember(orgA, orgD) }, EventMemberAdmitted, "2", 4},
		{"4->5: d proposes e, needs 3", func() []byte { return g.propose(orgD, orgE) }, EventMemberProposed, "3", 4},
		{"4->5: b approves e", func() []byte { return g.approveMember(orgB, orgE) }, EventMemberApproval, "3", 4},
	}
	for _, st := range steps {
		ev := g.must(st.entry())
		if ev.Type != st.wantType || ev.Detail["needed"] != st.wantNeeded || g.s.AdmittedCount() != st.wantAdmitted {
			t.Fatalf("%s: event %s needed %q admitted %d; want %s needed %q admitted %d",
				st.name, ev.Type, ev.Detail["needed"], g.s.AdmittedCount(), st.wantType, st.wantNeeded, st.wantAdmitted)
		}
	}
	c, ok := g.s.Consortium()
	if !ok || c.Name != "Diabetes journey" || c.MinCohort != DefaultMinCohort || c.AdmissionRule != AdmissionMajority ||
		c.Founder != orgA.id || !c.Created.Equal(testTime) || len(c.ID) != 64 {
		t.Fatalf("consortium %+v", c)
	}
	members := g.s.Members()
	var got []string
	for _, m := range members {
		got = append(got, string(m.Member.Org)+":"+string(m.State))
	}
	want := []string{"hosp-a:admitted", "hosp-b:admitted", "payer-z:pending", "pharm-y:admitted", "pharma-x:admitted"}
	if !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	e, _ := g.s.Member(orgE.id)
	if !slices.Equal(e.Approvals, []kpi.OrgID{orgB.id, orgD.id}) || e.ProposedBy != orgD.id || e.AdmittedAt != 0 {
		t.Fatalf("pending member %+v", e)
	}
	d, _ := g.s.Member(orgD.id)
	if d.AdmittedAt != 6 || d.ProposedAt != 5 {
		t.Fatalf("admitted member %+v", d)
	}
	for _, tc := range []struct {
		peer string
		want bool
	}{{orgA.desc.PeerID, true}, {orgD.desc.PeerID, true}, {orgE.desc.PeerID, false}, {orgX.desc.PeerID, false}, {"", false}} {
		if got := g.s.PeerAllowed(tc.peer); got != tc.want {
			t.Errorf("PeerAllowed(%s) = %v, want %v", tc.peer, got, tc.want)
		}
	}
	// The pending member may not sign yet.
	_, err := g.refused(g.approveMember(orgE, orgE))
	if !errors.Is(err, ErrNotMember) || !strings.Contains(err.Error(), "payer-z is pending admission") {
		t.Fatalf("pending signer: %v", err)
	}
}

func TestGenesisRules(t *testing.T) {
	tampered := orgA.desc
	tampered.Name = "Someone else"
	tests := []struct {
		name    string
		prepare func(g *govLog)
		entry   func(g *govLog) []byte
		want    string
		wantErr error
	}{
		{"entry before genesis", nil, func(g *govLog) []byte { return g.propose(orgA, orgB) },
			"there is no consortium yet", nil},
		{"second genesis", func(g *govLog) { g.genesis(orgA) },
			func(g *govLog) []byte {
				raw, _ := Sign(EntryGenesis, Genesis{Header: hdr(), Name: "Again", Founder: orgA.desc}, orgA.id, orgA.key, "")
				return raw
			}, "the consortium already exists", nil},
		{"signed by someone else than the founder", nil,
			func(g *govLog) []byte {
				return g.sign(EntryGenesis, Genesis{Header: hdr(), Name: "N", Founder: orgA.desc}, orgB)
			}, "must be signed by its founder hosp-a", ErrNotMember},
		{"founder's key does not sign it", nil,
			func(g *govLog) []byte {
				raw, _ := Sign(EntryGenesis, Genesis{Header: hdr(), Name: "N", Founder: orgA.desc}, orgA.id, orgB.key, "")
				return raw
			}, "signature does not verify", ErrBadSignature},
		{"tampered founder descriptor", nil,
			func(g *govLog) []byte {
				return g.sign(EntryGenesis, Genesis{Header: hdr(), Name: "N", Founder: tampered}, orgA)
			}, "founder descriptor: member hosp-a: descriptor signature does not verify", nil},
		{"negative min cohort", nil,
			func(g *govLog) []byte {
				return g.sign(EntryGenesis, Genesis{Header: hdr(), Name: "N", MinCohort: -1, Founder: orgA.desc}, orgA)
			}, "min_cohort -1 must be 1 or more", nil},
		{"unknown admission rule", nil,
			func(g *govLog) []byte {
				return g.sign(EntryGenesis, Genesis{Header: hdr(), Name: "N", AdmissionRule: "unanimous", Founder: orgA.desc}, orgA)
			}, `admission rule "unanimous" is not supported`, nil},
		{"no name", nil,
			func(g *govLog) []byte {
				return g.sign(EntryGenesis, Genesis{Header: hdr(), Name: " ", Founder: orgA.desc}, orgA)
			}, "consortium name must be", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovLog(t)
			if tc.prepare != nil {
				tc.prepare(g)
			}
			_, err := g.refused(tc.entry(g))
			if !strings.Contains(err.Error(), tc.want) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("error %q, want it to contain %q (%v)", err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestAdmissionRules(t *testing.T) {
	samePeer := newTestOrg("copycat")
	samePeer.desc.PeerID = orgB.desc.PeerID
	samePeer.desc.Sign(samePeer.key)
	sameKey := newTestOrg("twin")
	sameKey.key = orgB.key
	sameKey.desc.Sign(sameKey.key)
	edited := newTestOrg("edited")
	edited.desc.Addrs = []string{"/ip4/6.6.6.6/tcp/1"}
	badID := newTestOrg("Bad_Org")
	otherDesc := newTestOrg("payer-z")
	otherDesc.desc.Name = "changed after review"
	otherDesc.desc.Sign(otherDesc.key)

	tests := []struct {
		name    string
		entry   func(g *govLog) []byte
		want    string
		wantErr error
	}{
		{"already a member", func(g *govLog) []byte { return g.propose(orgA, orgB) }, "hosp-b is already a member", nil},
		{"already pending", func(g *govLog) []byte { return g.propose(orgB, orgE) }, "payer-z is already pending admission", nil},
		{"peer id in use", func(g *govLog) []byte { return g.propose(orgA, samePeer) }, "peer id 12D3KooWhosp-b is already used by member hosp-b", nil},
		{"governance key in use", func(g *govLog) []byte { return g.propose(orgA, sameKey) }, "governance key of twin is already used by member hosp-b", nil},
		{"descriptor edited after signing", func(g *govLog) []byte { return g.propose(orgA, edited) }, "descriptor: member edited: descriptor signature does not verify", nil},
		{"org id contracts cannot name", func(g *govLog) []byte { return g.propose(orgA, badID) }, `org "Bad_Org" must be`, nil},
		{"approve with another descriptor hash", func(g *govLog) []byte { return g.approveMember(orgB, otherDesc) }, "does not match the pending descriptor of payer-z", nil},
		{"approve twice", func(g *govLog) []byte { return g.approveMember(orgA, orgE) }, "hosp-a has already approved payer-z", ErrReplay},
		{"approve an admitted member", func(g *govLog) []byte { return g.approveMember(orgA, orgC) }, "pharma-x is already admitted", nil},
		{"approve nobody", func(g *govLog) []byte { return g.approveMember(orgA, orgX) }, "outsider is not a pending member", nil},
		{"non-member proposes", func(g *govLog) []byte { return g.propose(orgX, newTestOrg("friend")) }, "outsider is not a member of the consortium", ErrNotMember},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovLog(t)
			g.form(orgA, orgB, orgC)
			g.must(g.propose(orgA, orgE))
			_, err := g.refused(tc.entry(g))
			if !strings.Contains(err.Error(), tc.want) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("error %q, want it to contain %q (%v)", err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestContractApprovals: a contract agreed with approvals all, majority
// and N, the proposer's own approval counting only when it participates.
func TestContractApprovals(t *testing.T) {
	four := []*testOrg{orgA, orgB, orgC, orgD}
	tests := []struct {
		name         string
		participants []*testOrg
		approvals    string
		proposer     *testOrg
		approvers    []*testOrg // in order; the last one completes
	}{
		{"all", four, "all", orgA, []*testOrg{orgB, orgC, orgD}},
		{"majority of 4 is 3", four, "majority", orgB, []*testOrg{orgD, orgA}},
		{"number 2", four, "2", orgC, []*testOrg{orgA}},
		{"number 1: the proposer alone", four, "1", orgD, nil},
		{"proposer not a participant", []*testOrg{orgB, orgC, orgD}, "2", orgA, []*testOrg{orgB, orgD}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovLog(t)
			g.form(orgA, orgB, orgC, orgD)
			c := govContract(t, contractYAML("nps-diabetes", 1, tc.participants, tc.approvals, 11))
			ev := g.must(g.proposeContract(tc.proposer, c))
			steps := append([]*testOrg{tc.proposer}, tc.approvers...)
			for i, by := range steps {
				if i > 0 {
					ev = g.must(g.approveContract(by, c))
				}
				rec := g.contract(c.ID)
				last := i == len(steps)-1
				wantState, wantType := ContractProposed, EventContractApproval
				if i == 0 {
					wantType = EventContractProposed
				}
				if last {
					wantState, wantType = ContractApproved, EventContractApproved
				}
				if rec.State != wantState || ev.Type != wantType || ev.Object != "nps-diabetes" || ev.Actor != by.id {
					t.Fatalf("after %s: state %s event %+v; want %s %s", by.id, rec.State, ev, wantState, wantType)
				}
			}
			rec := g.contract(c.ID)
			var want []kpi.OrgID
			for _, o := range steps {
				if slices.ContainsFunc(tc.participants, func(p *testOrg) bool { return p == o }) {
					want = append(want, o.id)
				}
			}
			slices.Sort(want)
			if !slices.Equal(rec.Approvals, want) || rec.Needed != c.ApprovalsNeeded() || rec.Hash != c.Hash() ||
				rec.ProposedBy != tc.proposer.id || rec.DecidedAt != g.index || string(rec.Canonical) != string(c.Canonical()) {
				t.Fatalf("record %+v; want approvals %v", rec, want)
			}
			parsed, err := rec.Contract()
			if err != nil || parsed.Hash() != c.Hash() {
				t.Fatalf("stored contract: %v", err)
			}
			// Approved: later approvals are refused.
			if len(tc.participants) > len(rec.Approvals) {
				for _, p := range tc.participants {
					if !slices.Contains(rec.Approvals, p.id) {
						if _, err := g.refused(g.approveContract(p, c)); !strings.Contains(err.Error(), "is approved; only a proposed contract") {
							t.Fatalf("late approval: %v", err)
						}
						break
					}
				}
			}
		})
	}
}

// TestForgedApprovals: every forged or replayed approval is refused and
// leaves the state unchanged.
func TestForgedApprovals(t *testing.T) {
	v1 := govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgC}, "all", 11))
	v2 := govContract(t, contractYAML("nps-diabetes", 2, []*testOrg{orgA, orgB, orgC}, "all", 11))
	_, strangerKey, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name    string
		entry   func(g *govLog, replay []byte) []byte
		want    string
		wantErr error
	}{
		{"signed with a wrong key", func(g *govLog, _ []byte) []byte {
			raw, _ := Sign(EntryContractApprove, ContractApprove{Header: hdr(), ID: v2.ID, Version: 2, Hash: v2.Hash()}, orgC.id, strangerKey, g.s.ID())
			return raw
		}, "signature does not verify with pharma-x's governance key", ErrBadSignature},
		{"org a signing as org c", func(g *govLog, _ []byte) []byte {
			raw, _ := Sign(EntryContractApprove, ContractApprove{Header: hdr(), ID: v2.ID, Version: 2, Hash: v2.Hash()}, orgC.id, orgA.key, g.s.ID())
			return raw
		}, "signature does not verify with pharma-x's governance key", ErrBadSignature},
		{"an approval relabelled with another org", func(g *govLog, _ []byte) []byte {
			e, _ := DecodeEntry(g.approveContract(orgC, v2))
			e.Org = orgD.id
			return encodeEntry(t, e)
		}, "signature does not verify with pharm-y's governance key", ErrBadSignature},
		{"replayed identical entry", func(g *govLog, replay []byte) []byte { return replay },
			"this exact entry was applied before", ErrReplay},
		{"second approval by the same org", func(g *govLog, _ []byte) []byte { return g.approveContract(orgB, v2) },
			"hosp-b has already approved nps-diabetes v2", ErrReplay},
		{"approval of the old version", func(g *govLog, _ []byte) []byte { return g.approveContract(orgC, v1) },
			"the entry names nps-diabetes v1", ErrReplay},
		{"approval with the old hash", func(g *govLog, _ []byte) []byte {
			return g.sign(EntryContractApprove, ContractApprove{Header: hdr(), ID: v2.ID, Version: 2, Hash: v1.Hash()}, orgC)
		}, "but the current version is v2", nil},
		{"approval signed for another consortium", func(g *govLog, _ []byte) []byte {
			raw, _ := Sign(EntryContractApprove, ContractApprove{Header: hdr(), ID: v2.ID, Version: 2, Hash: v2.Hash()}, orgC.id, orgC.key, strings.Repeat("0", 64))
			return raw
		}, "signature does not verify", ErrBadSignature},
		{"approval signed as a genesis-time entry", func(g *govLog, _ []byte) []byte {
			raw, _ := Sign(EntryContractApprove, ContractApprove{Header: hdr(), ID: v2.ID, Version: 2, Hash: v2.Hash()}, orgC.id, orgC.key, "")
			return raw
		}, "signature does not verify", ErrBadSignature},
		{"entry type changed after signing", func(g *govLog, _ []byte) []byte {
			raw := g.rejectContract(orgC, v2, "no")
			raw[0] = byte(EntryContractApprove)
			return raw
		}, "malformed entry", ErrMalformed},
		{"non-participant approval", func(g *govLog, _ []byte) []byte { return g.approveContract(orgD, v2) },
			"pharm-y is not a participant of nps-diabetes v2", nil},
		{"non-member signer", func(g *govLog, _ []byte) []byte { return g.approveContract(orgX, v2) },
			"outsider is not a member of the consortium", ErrNotMember},
		{"approval of a contract that does not exist", func(g *govLog, _ []byte) []byte {
			return g.sign(EntryContractApprove, ContractApprove{Header: hdr(), ID: "nope", Version: 1, Hash: v2.Hash()}, orgC)
		}, "there is no contract nope", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovLog(t)
			g.form(orgA, orgB, orgC, orgD)
			g.must(g.proposeContract(orgA, v1))
			g.must(g.approveContract(orgB, v1))
			g.must(g.proposeContract(orgA, v2))
			replay := g.approveContract(orgB, v2)
			g.must(replay)
			_, err := g.refused(tc.entry(g, replay))
			if !strings.Contains(err.Error(), tc.want) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("error %q, want it to contain %q (%v)", err, tc.want, tc.wantErr)
			}
			if rec := g.contract(v2.ID); rec.State != ContractProposed || len(rec.Approvals) != 2 {
				t.Fatalf("contract %+v", rec)
			}
		})
	}
}

// encodeEntry re-encodes a decoded entry, keeping its signature.
func encodeEntry(t rapid.TB, e *Entry) []byte {
	t.Helper()
	b, err := json.Marshal(e.Signed)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{byte(e.Type), e.Version}, b...)
}

func TestContractProposalRules(t *testing.T) {
	abc := []*testOrg{orgA, orgB, orgC}
	good := govContract(t, contractYAML("nps-diabetes", 1, abc, "all", 11))
	tests := []struct {
		name  string
		entry func(g *govLog) []byte
		want  string
	}{
		{"min_cohort below the floor", func(g *govLog) []byte {
			return g.proposeContract(orgA, govContract(t, contractYAML("nps-diabetes", 1, abc, "all", 5)))
		}, "contract nps-diabetes: min_cohort 5 is below the consortium's floor of 11"},
		{"non-member participants", func(g *govLog) []byte {
			return g.proposeContract(orgA, govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgX, orgE}, "all", 11)))
		}, "participants outsider, payer-z are not admitted members"},
		{"non-member reader", func(g *govLog) []byte {
			c := govContract(t, append(contractYAML("nps-diabetes", 1, abc, "all", 11), "readers: [outsider]\n"...))
			return g.proposeContract(orgA, c)
		}, "readers outsider are not admitted members"},
		{"hash does not match", func(g *govLog) []byte {
			return g.sign(EntryContractPropose, ContractPropose{Header: hdr(), Contract: good.Canonical(), Hash: "sha256:00"}, orgA)
		}, `hash "sha256:00" does not match contract nps-diabetes v1`},
		{"contract does not parse", func(g *govLog) []byte {
			return g.sign(EntryContractPropose, ContractPropose{Header: hdr(), Contract: []byte(`{"id":"x"}`), Hash: "sha256:00"}, orgA)
		}, "the contract does not parse: contract:1: id: must be 3 to 64"},
		{"version skipped", func(g *govLog) []byte {
			g.must(g.proposeContract(orgA, good))
			return g.proposeContract(orgA, govContract(t, contractYAML("nps-diabetes", 3, abc, "all", 11)))
		}, "version 3 cannot follow the current v1 (proposed); propose version 2"},
		{"same version again", func(g *govLog) []byte {
			g.must(g.proposeContract(orgA, good))
			return g.proposeContract(orgB, govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgD}, "all", 11)))
		}, "version 1 cannot follow the current v1"},
		{"pending member signs", func(g *govLog) []byte {
			return g.proposeContract(orgE, good)
		}, "payer-z is pending admission"},
		{"two participants", func(g *govLog) []byte {
			return g.proposeContract(orgA, govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB}, "all", 11)))
		}, "contract nps-diabetes has 2 participants; a contract needs at least 3"},
		{"one participant", func(g *govLog) []byte {
			return g.proposeContract(orgA, govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA}, "all", 11)))
		}, "has 1 participant; a contract needs at least 3"},
		{"two participants with differential privacy", func(g *govLog) []byte {
			return g.proposeContract(orgA, govContract(t, []byte("id: nps-dp\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b]\nprivacy: {min_cohort: 11, epsilon: 0.5, budget: 1}\n")))
		}, "contract nps-dp has 2 participants; a contract needs at least 3"},
		{"min_participants 2", func(g *govLog) []byte {
			return g.proposeContract(orgA, govContract(t, append(contractYAML("nps-diabetes", 1, abc, "all", 11), "min_participants: 2\n"...)))
		}, "min_participants 2 would let a round release the inputs of 2 organisations; at least 3 are needed, so that no release shows one organisation's cells to another (who subtracts its own): set min_participants to 3 or more, or leave it out (the default is all 3 participants)"},
		{"min_participants 1 with differential privacy", func(g *govLog) []byte {
			return g.proposeContract(orgA, govContract(t, []byte("id: nps-dp\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b, pharma-x, pharm-y]\nmin_participants: 1\nprivacy: {min_cohort: 11, epsilon: 0.5, budget: 1}\n")))
		}, "contract nps-dp: min_participants 1 would let a round release the inputs of 1 organisation;"},
		{"new version with two participants", func(g *govLog) []byte {
			g.must(g.proposeContract(orgA, good))
			return g.proposeContract(orgA, govContract(t, contractYAML("nps-diabetes", 2, []*testOrg{orgA, orgB}, "all", 11)))
		}, "contract nps-diabetes has 2 participants"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovLog(t)
			g.form(orgA, orgB, orgC, orgD)
			g.must(g.propose(orgA, orgE))
			ev, err := g.refused(tc.entry(g))
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
			if ev.Object == "" || ev.Type != "contract.propose" || ev.Detail["reason"] == "" {
				t.Fatalf("event %+v", ev)
			}
		})
	}
}

// TestNewVersion: a new version resets approvals and needs approving
// again; the earlier version goes to the history.
func TestNewVersion(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC)
	v1 := govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgC}, "2", 11))
	v2 := govContract(t, contractYAML("nps-diabetes", 2, []*testOrg{orgA, orgB, orgC}, "majority", 20))
	g.must(g.proposeContract(orgA, v1))
	if ev := g.must(g.approveContract(orgB, v1)); ev.Type != EventContractApproved {
		t.Fatalf("v1: %+v", ev)
	}
	ev := g.must(g.proposeContract(orgC, v2))
	rec := g.contract(v1.ID)
	if ev.Type != EventContractProposed || ev.Detail["previous_state"] != "approved" ||
		rec.Version != 2 || rec.State != ContractProposed || !slices.Equal(rec.Approvals, []kpi.OrgID{orgC.id}) ||
		len(rec.History) != 1 || rec.History[0].Version != 1 || rec.History[0].State != ContractApproved {
		t.Fatalf("after v2: event %+v record %+v", ev, rec)
	}
	if _, err := g.refused(g.approveContract(orgB, v1)); !errors.Is(err, ErrReplay) {
		t.Fatalf("approval of v1 after v2: %v", err)
	}
	if ev := g.must(g.approveContract(orgB, v2)); ev.Type != EventContractApproved {
		t.Fatalf("v2 approval: %+v", ev)
	}
	if cs := g.s.Contracts(); len(cs) != 1 || cs[0].State != ContractApproved || cs[0].Version != 2 {
		t.Fatalf("contracts %+v", cs)
	}
}

func TestRejection(t *testing.T) {
	four := []*testOrg{orgA, orgB, orgC, orgD}
	tests := []struct {
		name      string
		approvals string
		votes     []string // "a+" approve, "b-" reject, by first letter of orgs a b c d
		want      []ContractState
	}{
		{"all: one rejection decides", "all", []string{"b-"}, []ContractState{ContractRejected}},
		{"majority: two rejections of four decide", "majority", []string{"b-", "c+", "d-"},
			[]ContractState{ContractProposed, ContractProposed, ContractRejected}},
		{"number 2 of 4: approved despite two rejections", "2", []string{"b-", "c-", "d+"},
			[]ContractState{ContractProposed, ContractProposed, ContractApproved}},
		{"number 2 of 4: rejected once only one could approve", "2", []string{"b-", "c-", "d-"},
			[]ContractState{ContractProposed, ContractProposed, ContractRejected}},
	}
	byLetter := map[byte]*testOrg{'a': orgA, 'b': orgB, 'c': orgC, 'd': orgD}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovLog(t)
			g.form(four...)
			c := govContract(t, contractYAML("nps-diabetes", 1, four, tc.approvals, 11))
			g.must(g.proposeContract(orgA, c))
			for i, v := range tc.votes {
				by := byLetter[v[0]]
				raw := g.approveContract(by, c)
				if v[1] == '-' {
					raw = g.rejectContract(by, c, "window too short <for us> & more")
				}
				g.must(raw)
				if got := g.contract(c.ID).State; got != tc.want[i] {
					t.Fatalf("after %s: %s, want %s", v, got, tc.want[i])
				}
			}
		})
	}

	g := newGovLog(t)
	g.form(orgA, orgB, orgC, orgD)
	c := govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgC}, "all", 11))
	g.must(g.proposeContract(orgA, c))
	refusals := []struct {
		name  string
		entry []byte
		want  string
	}{
		{"no reason", g.rejectContract(orgB, c, " "), "a rejection needs a reason"},
		{"non-participant", g.rejectContract(orgD, c, "no"), "pharm-y is not a participant"},
		{"proposer rejects its own approval", g.rejectContract(orgA, c, "no"), "hosp-a has already approved"},
	}
	for _, r := range refusals {
		if _, err := g.refused(r.entry); !strings.Contains(err.Error(), r.want) {
			t.Errorf("%s: %v, want %q", r.name, err, r.want)
		}
	}
	ev := g.must(g.rejectContract(orgC, c, "too broad"))
	rec := g.contract(c.ID)
	if ev.Type != EventContractRejected || ev.Detail["reason"] != "too broad" || rec.Rejections[orgC.id] != "too broad" || rec.DecidedAt != g.index {
		t.Fatalf("event %+v record %+v", ev, rec)
	}
	if _, err := g.refused(g.approveContract(orgB, c)); !strings.Contains(err.Error(), "is rejected; only a proposed contract") {
		t.Fatalf("approval after rejection: %v", err)
	}
	if _, err := g.refused(g.retireContract(orgB, c.ID, 1)); !strings.Contains(err.Error(), "already rejected") {
		t.Fatalf("retire after rejection: %v", err)
	}
	// A new version may follow a rejected one.
	v2 := govContract(t, contractYAML("nps-diabetes", 2, []*testOrg{orgA, orgB, orgD}, "all", 11))
	if ev := g.must(g.proposeContract(orgB, v2)); ev.Detail["previous_state"] != "rejected" {
		t.Fatalf("v2 after rejection: %+v", ev)
	}
}

func TestRetirement(t *testing.T) {
	bcd := []*testOrg{orgB, orgC, orgD}
	c := govContract(t, contractYAML("nps-diabetes", 1, bcd, "2", 11))
	tests := []struct {
		name    string
		prepare func(g *govLog) // after proposal by a (not a participant)
		by      *testOrg
		version int
		want    string // "" = retired
	}{
		{"participant retires an approved contract", func(g *govLog) {
			g.must(g.approveContract(orgB, c))
			g.must(g.approveContract(orgC, c))
		}, orgC, 1, ""},
		{"proposer who is not a participant withdraws", nil, orgA, 1, ""},
		{"neither participant nor proposer", nil, orgE, 1, "payer-z is neither a participant nor the proposer"},
		{"names a version that does not exist", nil, orgB, 2, "the entry names nps-diabetes v2 but the current version is v1"},
		{"retired twice", func(g *govLog) { g.must(g.retireContract(orgB, c.ID, 1)) }, orgC, 1, "is already retired"},
		{"non-member", nil, orgX, 1, "outsider is not a member"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGovLog(t)
			g.form(orgA, orgB, orgC, orgD, orgE)
			g.must(g.proposeContract(orgA, c))
			if tc.prepare != nil {
				tc.prepare(g)
			}
			raw := g.retireContract(tc.by, c.ID, tc.version)
			if tc.want != "" {
				if _, err := g.refused(raw); !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if ev := g.must(raw); ev.Type != EventContractRetired {
				t.Fatalf("event %+v", ev)
			}
			if rec := g.contract(c.ID); rec.State != ContractRetired {
				t.Fatalf("state %s", rec.State)
			}
			v2 := govContract(t, contractYAML("nps-diabetes", 2, bcd, "all", 11))
			if _, err := g.refused(g.approveContract(orgB, c)); !strings.Contains(err.Error(), "is retired") {
				t.Fatalf("approval after retirement: %v", err)
			}
			g.must(g.proposeContract(orgB, v2)) // a retired contract may get a new version
			if _, err := g.refused(g.retireContract(orgB, c.ID, 1)); !errors.Is(err, ErrReplay) {
				t.Fatalf("retire of the old version: %v", err)
			}
		})
	}
}

func TestUnknownEntrySkipped(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB)
	newer := g.sign(EntryType(42), map[string]string{"round": "r1", "nonce": "n"}, orgA)
	futureVersion := g.approveMember(orgA, orgE)
	futureVersion[1] = EntryVersion + 1
	for name, raw := range map[string][]byte{"unknown type": newer, "unknown version": futureVersion, "bare type byte": {42, 7}} {
		t.Run(name, func(t *testing.T) {
			before := snapshotOf(t, g.s)
			ev, err := g.apply(raw)
			if !errors.Is(err, ErrUnknownEntry) || ev.Outcome != OutcomeSkipped || ev.Index != g.index {
				t.Fatalf("event %+v err %v", ev, err)
			}
			var rej *RejectError
			if errors.As(err, &rej) {
				t.Fatalf("an unknown entry is not a rejection: %v", err)
			}
			if snapshotOf(t, g.s) != before {
				t.Fatal("an unknown entry changed the state")
			}
		})
	}
	if ev := g.must(g.propose(orgA, orgC)); ev.Type != EventMemberProposed {
		t.Fatalf("after skipping: %+v", ev)
	}
}

func TestStateJSONRoundTrip(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC)
	c := govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgC}, "majority", 11))
	g.must(g.proposeContract(orgA, c))
	g.must(g.rejectContract(orgB, c, "no <thanks> & bye"))
	b := snapshotOf(t, g.s)
	var s State
	if err := json.Unmarshal([]byte(b), &s); err != nil {
		t.Fatal(err)
	}
	if got := snapshotOf(t, &s); got != b {
		t.Fatalf("round trip:\n%s\n%s", b, got)
	}
	// The restored state goes on like the original.
	next := g.approveContract(orgC, c)
	ev1, err1 := g.s.Apply(100, next)
	ev2, err2 := s.Apply(100, next)
	if err1 != nil || err2 != nil || ev1.Type != EventContractApproved || snapshotOf(t, g.s) != snapshotOf(t, &s) {
		t.Fatalf("%v %v %+v %+v", err1, err2, ev1, ev2)
	}
	for name, bad := range map[string]string{
		"members without consortium": `{"members":{"a":{"member":{"org":"a"},"state":"admitted"}}}`,
		"key mismatch":               `{"consortium":{"id":"x"},"members":{"a":{"member":{"org":"b"},"state":"admitted"}}}`,
		"unknown member state":       `{"consortium":{"id":"x"},"members":{"a":{"member":{"org":"a"},"state":"gone"}}}`,
		"unknown contract state":     `{"consortium":{"id":"x"},"contracts":{"c":{"id":"c","state":"gone"}}}`,
	} {
		if err := json.Unmarshal([]byte(bad), new(State)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAccessorsReturnCopies: what the accessors return cannot change the
// state.
func TestAccessorsReturnCopies(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC)
	c := govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgC}, "all", 11))
	g.must(g.proposeContract(orgA, c))
	before := snapshotOf(t, g.s)
	m, _ := g.s.Member(orgA.id)
	m.Approvals[0] = "evil"
	m.Member.Addrs[0] = "evil"
	r, _ := g.s.Contract(c.ID)
	r.Approvals[0] = "evil"
	r.Participants[0] = "evil"
	r.Canonical[0] = 'X'
	r.Rejections["evil"] = "x"
	g.s.Contracts()[0].Approvals[0] = "evil"
	g.s.Members()[0].Approvals[0] = "evil"
	if snapshotOf(t, g.s) != before {
		t.Fatal("changing a returned value changed the state")
	}
}
