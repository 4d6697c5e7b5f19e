package contracts_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
)

func ExampleState_Apply() {
	// Each organisation's board holds a governance key and signs a member
	// descriptor with it (`cxnet identity`).
	keys := map[kpi.OrgID]ed25519.PrivateKey{}
	member := func(org kpi.OrgID) kpi.Member {
		seed := sha256.Sum256([]byte(org))
		keys[org] = ed25519.NewKeyFromSeed(seed[:])
		m := kpi.Member{Org: org, Name: string(org), Kind: "hospital", PeerID: "12D3KooW-" + string(org)}
		m.Sign(keys[org])
		return m
	}
	hospA, hospB, pharmY := member("hosp-a"), member("hosp-b"), member("pharm-y")

	// Raft delivers the same entries, in the same order, to every node's
	// State; here we apply them by hand.
	s := contracts.NewState()
	index := uint64(0)
	apply := func(t contracts.EntryType, body any, by kpi.OrgID) {
		raw, err := contracts.Sign(t, body, by, keys[by], s.ID())
		if err != nil {
			fmt.Println(err)
			return
		}
		index++
		ev, err := s.Apply(index, raw)
		if err != nil {
			fmt.Println(ev.Outcome+":", err)
			return
		}
		fmt.Println(ev.Outcome+":", ev.Type, ev.Object, "by", ev.Actor)
	}

	apply(contracts.EntryGenesis, contracts.Genesis{Name: "Diabetes journey", Founder: hospA}, "hosp-a")
	apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: hospB}, "hosp-a")
	apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: pharmY}, "hosp-a")
	apply(contracts.EntryAdmitApprove, contracts.AdmitApprove{Org: "pharm-y", DescriptorHash: contracts.DescriptorHash(pharmY)}, "hosp-b")

	c, err := contracts.Parse([]byte(`
id: nps-diabetes
measure: nps
aggregate: nps
participants: [hosp-a, hosp-b, pharm-y]
approvals: 2
privacy: {min_cohort: 5}
`), "nps.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	apply(contracts.EntryContractPropose, contracts.ContractPropose{Contract: c.Canonical(), Hash: c.Hash()}, "hosp-a")

	c, _ = contracts.Parse([]byte(`
id: nps-diabetes
measure: nps
aggregate: nps
participants: [hosp-a, hosp-b, pharm-y]
approvals: 2
`), "nps.yaml")
	apply(contracts.EntryContractPropose, contracts.ContractPropose{Contract: c.Canonical(), Hash: c.Hash()}, "hosp-a")
	apply(contracts.EntryContractApprove, contracts.ContractApprove{ID: c.ID, Version: c.Version, Hash: c.Hash()}, "hosp-b")

	rec, _ := s.Contract("nps-diabetes")
	fmt.Println(rec.ID, "v", rec.Version, rec.State, rec.Approvals)
	// Output:
	// applied: consortium.created Diabetes journey by hosp-a
	// applied: member.admitted hosp-b by hosp-a
	// applied: member.proposed pharm-y by hosp-a
	// applied: member.admitted pharm-y by hosp-b
	// rejected: contracts: entry 5 (contract.propose by hosp-a) rejected: contract nps-diabetes: min_cohort 5 is below the consortium's floor of 11
	// applied: contract.proposed nps-diabetes by hosp-a
	// applied: contract.approved nps-diabetes by hosp-b
	// nps-diabetes v 1 approved [hosp-a hosp-b]
}
