package contracts

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/cxnet/cxnet/kpi"
)

// testOrg is an organisation with a deterministic governance key.
type testOrg struct {
	id   kpi.OrgID
	key  ed25519.PrivateKey
	desc kpi.Member
}

func newTestOrg(id string) *testOrg {
	seed := sha256.Sum256([]byte("test governance key " + id))
	key := ed25519.NewKeyFromSeed(seed[:])
	m := kpi.Member{Org: kpi.OrgID(id), Name: "Org " + id, Kind: "hospital", PeerID: "12D3KooW" + id,
		Addrs: []string{"/ip4/127.0.0.1/tcp/7001/p2p/12D3KooW" + id}}
	m.Sign(key)
	o := &testOrg{id: kpi.OrgID(id), key: key, desc: m}
	testOrgs.Store(o.id, o)
	return o
}

// testReaderKey is an organisation's reader public key in these tests,
// derived from its id.
func testReaderKey(id kpi.OrgID) []byte {
	return testReaderPrivate(id).PublicKey().Bytes()
}

func testReaderPrivate(id kpi.OrgID) hpke.PrivateKey {
	ikm := sha256.Sum256([]byte("test reader key " + id))
	k, err := hpke.MLKEM768P256().DeriveKeyPair(ikm[:])
	if err != nil {
		panic(err)
	}
	return k
}

// testOrgs finds a test organisation by id.
var testOrgs sync.Map // kpi.OrgID -> *testOrg

func testOrgOf(id kpi.OrgID) *testOrg {
	o, _ := testOrgs.Load(id)
	return o.(*testOrg)
}

var testTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func hdr() Header { return Header{Time: testTime} }

// govLog drives a State the way raft would: consecutive indexes.
type govLog struct {
	t     rapid.TB
	s     *State
	index uint64
	log   [][]byte // every entry applied, in order
}

func newGovLog(t rapid.TB) *govLog { return &govLog{t: t, s: NewState()} }

// sign signs body as o for this consortium.
func (g *govLog) sign(typ EntryType, body any, o *testOrg) []byte {
	g.t.Helper()
	raw, err := Sign(typ, body, o.id, o.key, g.s.ID())
	if err != nil {
		g.t.Fatalf("sign %s: %v", typ, err)
	}
	return raw
}

func (g *govLog) apply(raw []byte) (Event, error) {
	g.index++
	g.log = append(g.log, raw)
	return g.s.Apply(g.index, raw)
}

// must applies an entry that must be applied.
func (g *govLog) must(raw []byte) Event {
	g.t.Helper()
	ev, err := g.apply(raw)
	if err != nil {
		g.t.Fatalf("apply: %v", err)
	}
	if ev.Outcome != OutcomeApplied {
		g.t.Fatalf("outcome %s, want applied", ev.Outcome)
	}
	return ev
}

// refused applies an entry that must be refused, checks the state is
// unchanged and returns the error.
func (g *govLog) refused(raw []byte) (Event, error) {
	g.t.Helper()
	before := snapshotOf(g.t, g.s)
	ev, err := g.apply(raw)
	if err == nil {
		g.t.Fatalf("applied (%s), want it refused", ev.Type)
	}
	if after := snapshotOf(g.t, g.s); after != before {
		g.t.Fatalf("refused entry changed the state:\nbefore %s\nafter  %s", before, after)
	}
	var rej *RejectError
	if errors.As(err, &rej) {
		if ev.Outcome != OutcomeRejected || rej.Index != g.index {
			g.t.Fatalf("event %+v, error %+v", ev, rej)
		}
		if r := rej.Reason; r == "" || strings.ToLower(r[:1]) != r[:1] {
			g.t.Fatalf("reason %q must be lower-case", r)
		}
	}
	return ev, err
}

func snapshotOf(t rapid.TB, s *State) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (g *govLog) genesis(founder *testOrg) Event {
	g.t.Helper()
	return g.must(g.sign(EntryGenesis, Genesis{Header: hdr(), Name: "Test consortium", Founder: founder.desc}, founder))
}

func (g *govLog) propose(by, member *testOrg) []byte {
	return g.sign(EntryAdmitPropose, AdmitPropose{Header: hdr(), Member: member.desc}, by)
}

func (g *govLog) approveMember(by, member *testOrg) []byte {
	return g.sign(EntryAdmitApprove, AdmitApprove{Header: hdr(), Org: member.id, DescriptorHash: DescriptorHash(member.desc)}, by)
}

// form founds a consortium of orgs (the first founds it) and admits the
// others, each proposed by the founder and approved by the earliest
// members until admitted.
func (g *govLog) form(orgs ...*testOrg) {
	g.t.Helper()
	g.genesis(orgs[0])
	for i, o := range orgs[1:] {
		ev := g.must(g.propose(orgs[0], o))
		for j := 1; ev.Type != EventMemberAdmitted; j++ {
			if j > i {
				g.t.Fatalf("%s not admitted by %d members", o.id, i+1)
			}
			ev = g.must(g.approveMember(orgs[j], o))
		}
	}
}

// contractYAML writes a contract file.
func contractYAML(id string, version int, participants []*testOrg, approvals string, minCohort int) []byte {
	ids := make([]string, len(participants))
	for i, p := range participants {
		ids[i] = string(p.id)
	}
	return fmt.Appendf(nil, `id: %s
version: %d
measure: nps
aggregate: nps
participants: [%s]
approvals: %s
privacy: {min_cohort: %d}
`, id, version, strings.Join(ids, ", "), approvals, minCohort)
}

func govContract(t rapid.TB, y []byte) *Contract {
	t.Helper()
	c, err := Parse(y, "test.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return c
}

func (g *govLog) proposeContract(by *testOrg, c *Contract) []byte {
	return g.sign(EntryContractPropose, ContractPropose{Header: hdr(), Contract: c.Canonical(), Hash: c.Hash()}, by)
}

func (g *govLog) approveContract(by *testOrg, c *Contract) []byte {
	return g.sign(EntryContractApprove, ContractApprove{Header: hdr(), ID: c.ID, Version: c.Version, Hash: c.Hash()}, by)
}

func (g *govLog) rejectContract(by *testOrg, c *Contract, reason string) []byte {
	return g.sign(EntryContractReject, ContractReject{Header: hdr(), ID: c.ID, Version: c.Version, Hash: c.Hash(), Reason: reason}, by)
}

func (g *govLog) retireContract(by *testOrg, id kpi.ContractID, version int) []byte {
	return g.sign(EntryContractRetire, ContractRetire{Header: hdr(), ID: id, Version: version}, by)
}

func (g *govLog) contract(id kpi.ContractID) ContractRecord {
	g.t.Helper()
	r, ok := g.s.Contract(id)
	if !ok {
		g.t.Fatalf("no contract %s", id)
	}
	return r
}
