package contracts

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"pgregory.net/rapid"

	"github.com/cxnet/cxnet/kpi"
)

// drawEntry draws one entry for g's current state: mostly well-formed
// governance actions by random organisations (members or not, with their
// own key or another's), plus replays, garbage, entries for another
// consortium and entry types from the future.
func drawEntry(t *rapid.T, g *govLog, pool []*testOrg) []byte {
	pick := func(label string) *testOrg { return rapid.SampledFrom(pool).Draw(t, label) }
	var admitted, pending []*testOrg
	for _, o := range pool {
		if m, ok := g.s.Member(o.id); ok && m.State == MemberAdmitted {
			admitted = append(admitted, o)
		} else if ok {
			pending = append(pending, o)
		}
	}
	// pickMostly picks from likely, mostly, when it has any.
	pickMostly := func(likely []*testOrg, label string) *testOrg {
		if len(likely) > 0 && rapid.IntRange(0, 4).Draw(t, label+" likely") > 0 {
			return rapid.SampledFrom(likely).Draw(t, label)
		}
		return pick(label)
	}
	h := Header{Time: testTime, Nonce: strconv.Itoa(len(g.log))} // unique unless replayed
	action := rapid.IntRange(0, 16).Draw(t, "action")
	if _, ok := g.s.PendingKeys(); ok && rapid.IntRange(0, 1).Draw(t, "share now") == 0 {
		action = 15 // an epoch is keyed only once all its members commit, then share
	}
	ids := []kpi.ContractID{"nps-a", "nps-b"}
	if existing := g.s.Contracts(); len(existing) > 0 && action >= 7 && action <= 11 && rapid.IntRange(0, 9).Draw(t, "existing") > 0 {
		ids = ids[:0]
		for _, c := range existing {
			ids = append(ids, c.ID)
		}
	}
	id := rapid.SampledFrom(ids).Draw(t, "contract")
	cur, exists := g.s.Contract(id)
	if !exists && action >= 7 && action <= 11 && rapid.IntRange(0, 3).Draw(t, "propose instead") > 0 {
		action = 5 // votes on nothing are refused early; propose something to vote on
	}
	version, hash := 1, "sha256:none"
	if exists && rapid.IntRange(0, 4).Draw(t, "stale") > 0 {
		version, hash = cur.Version, cur.Hash
	} else if exists && len(cur.History) > 0 {
		old := cur.History[rapid.IntRange(0, len(cur.History)-1).Draw(t, "old")]
		version, hash = old.Version, old.Hash
	}
	likelySigners := admitted
	if exists && action >= 7 && action <= 11 {
		likelySigners = nil
		for _, o := range pool {
			if slices.Contains(cur.Participants, o.id) {
				likelySigners = append(likelySigners, o)
			}
		}
	}
	if p, ok := g.s.PendingKeys(); ok && action >= 15 {
		likelySigners = nil // members yet to share
		for _, o := range pool {
			if _, member := p.Point(o.id); member {
				if _, shared := p.Shares[o.id]; !shared && (p.Committed() || p.Commits[o.id] == "") {
					likelySigners = append(likelySigners, o)
				}
			}
		}
	}
	signer := pickMostly(likelySigners, "signer")
	key := signer.key
	if rapid.IntRange(0, 9).Draw(t, "wrong key") == 0 {
		key = pick("key owner").key
	}
	consortium := g.s.ID()
	if rapid.IntRange(0, 19).Draw(t, "other consortium") == 0 {
		consortium = "f00d"
	}
	sign := func(typ EntryType, body any) []byte {
		raw, err := Sign(typ, body, signer.id, key, consortium)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return raw
	}

	switch action {
	case 0:
		return sign(EntryGenesis, Genesis{Header: h, Name: "again", Founder: signer.desc})
	case 1, 2:
		return sign(EntryAdmitPropose, AdmitPropose{Header: h, Member: pick("member").desc})
	case 3, 4:
		m := pickMostly(pending, "member")
		return sign(EntryAdmitApprove, AdmitApprove{Header: h, Org: m.id, DescriptorHash: DescriptorHash(m.desc)})
	case 5, 6:
		next := 1
		if exists {
			next = cur.Version + 1
		}
		if rapid.IntRange(0, 4).Draw(t, "bad version") == 0 {
			next = rapid.IntRange(1, 4).Draw(t, "version")
		}
		from := pool
		if len(admitted) > 0 && rapid.IntRange(0, 4).Draw(t, "member participants") > 0 {
			from = admitted
		}
		least := min(MinReleaseInputs, len(from))
		parts := rapid.SliceOfNDistinct(rapid.SampledFrom(from), least, 4, func(o *testOrg) kpi.OrgID { return o.id }).Draw(t, "participants")
		approvals := rapid.SampledFrom([]string{"all", "all", "majority", "1", "2"}).Draw(t, "approvals")
		if approvals == "2" && len(parts) < 2 {
			approvals = "all"
		}
		minCohort := rapid.SampledFrom([]int{5, 11, 20}).Draw(t, "min_cohort")
		c, err := Parse(contractYAML(string(id), next, parts, approvals, minCohort), "p.yaml")
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		return sign(EntryContractPropose, ContractPropose{Header: h, Contract: c.Canonical(), Hash: c.Hash()})
	case 7, 8:
		return sign(EntryContractApprove, ContractApprove{Header: h, ID: id, Version: version, Hash: hash})
	case 9, 10:
		return sign(EntryContractReject, ContractReject{Header: h, ID: id, Version: version, Hash: hash, Reason: "no"})
	case 11:
		return sign(EntryContractRetire, ContractRetire{Header: h, ID: id, Version: version})
	case 13, 14:
		var members []kpi.OrgID
		for _, o := range admitted {
			members = append(members, o.id)
		}
		slices.Sort(members)
		if rapid.IntRange(0, 5).Draw(t, "odd members") == 0 {
			members = append(members, pick("extra member").id)
		}
		epoch := g.s.NextKeyEpoch()
		if rapid.IntRange(0, 5).Draw(t, "stale epoch") == 0 {
			epoch--
		}
		threshold := DefaultThreshold(len(members))
		if rapid.IntRange(0, 5).Draw(t, "odd threshold") == 0 {
			threshold += rapid.SampledFrom([]int{-1, 1}).Draw(t, "threshold")
		}
		return sign(EntryKeysOpen, KeysOpen{Header: h, Epoch: epoch, Members: members,
			Threshold: threshold,
			Seed:      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", Params: "test"})
	case 15, 16:
		var epoch uint64
		p, ok := g.s.PendingKeys()
		if ok {
			epoch = p.Epoch
		}
		share := []byte("share of " + signer.id)
		if rapid.IntRange(0, 5).Draw(t, "odd share") == 0 {
			share = rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "share")
		}
		if _, committed := p.Commits[signer.id]; ok && !committed {
			return sign(EntryKeysCommit, KeysCommit{Header: h, Epoch: epoch, Digest: KeyShareDigest(epoch, signer.id, share), ReaderKey: testReaderKey(signer.id)})
		}
		return sign(EntryKeysShare, KeysShare{Header: h, Epoch: epoch, Share: share})
	default:
		switch rapid.IntRange(0, 2).Draw(t, "odd") {
		case 0:
			if len(g.log) > 0 {
				return g.log[rapid.IntRange(0, len(g.log)-1).Draw(t, "replay")]
			}
			fallthrough
		case 1:
			return rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "garbage")
		}
		return sign(EntryType(rapid.IntRange(16, 255).Draw(t, "future type")), map[string]string{"nonce": h.Nonce})
	}
}

type applied struct {
	ev  Event
	err string
}

func replay(log [][]byte, s *State, from int) []applied {
	out := make([]applied, 0, len(log))
	for i, raw := range log {
		ev, err := s.Apply(uint64(from+i+1), raw)
		a := applied{ev: ev}
		if err != nil {
			a.err = err.Error()
		}
		out = append(out, a)
	}
	return out
}

// TestApplyDeterministic: the same log applied to fresh states gives the
// same events, errors and snapshot; a refused entry changes nothing; a
// state restored from a snapshot in the middle of the log ends where the
// original does.
func TestApplyDeterministic(t *testing.T) {
	pool := []*testOrg{orgA, orgB, orgC, orgD, orgE, orgX}
	var stats [3]int // applied, rejected, skipped
	events := map[string]int{}
	rapid.Check(t, func(t *rapid.T) {
		g := newGovLog(t)
		var want []applied
		if rapid.IntRange(0, 9).Draw(t, "genesis first") > 0 {
			// Mostly with two or three more members: a contract needs
			// three participants.
			n := rapid.SampledFrom([]int{1, 3, 3, 4}).Draw(t, "founding members")
			founders := rapid.SliceOfNDistinct(rapid.SampledFrom(pool), n, n, func(o *testOrg) kpi.OrgID { return o.id }).Draw(t, "founders")
			g.form(founders...)
			want = replay(g.log, NewState(), 0)
		}
		for range rapid.IntRange(1, 40).Draw(t, "entries") {
			raw := drawEntry(t, g, pool)
			before := snapshotOf(t, g.s)
			ev, err := g.apply(raw)
			a := applied{ev: ev}
			switch {
			case err == nil:
				stats[0]++
				events[ev.Type]++
				if ev.Outcome != OutcomeApplied {
					t.Fatalf("no error but outcome %s", ev.Outcome)
				}
			case errors.Is(err, ErrUnknownEntry):
				stats[2]++
				a.err = err.Error()
			default:
				stats[1]++
				a.err = err.Error()
				var rej *RejectError
				if !errors.As(err, &rej) || ev.Outcome != OutcomeRejected {
					t.Fatalf("error %T %v, outcome %s", err, err, ev.Outcome)
				}
			}
			if err != nil && snapshotOf(t, g.s) != before {
				t.Fatalf("refused entry changed the state: %v", err)
			}
			want = append(want, a)
		}
		final := snapshotOf(t, g.s)

		for run := range 2 {
			s := NewState()
			got := replay(g.log, s, 0)
			if snapshotOf(t, s) != final {
				t.Fatalf("run %d: snapshots differ", run)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("run %d: events differ:\n%+v\n%+v", run, got, want)
			}
		}

		k := rapid.IntRange(0, len(g.log)).Draw(t, "split")
		s := NewState()
		replay(g.log[:k], s, 0)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		restored := NewState()
		if err := json.Unmarshal(b, restored); err != nil {
			t.Fatalf("restore: %v", err)
		}
		replay(g.log[k:], restored, k)
		if snapshotOf(t, restored) != final {
			t.Fatalf("restored at %d of %d: snapshots differ", k, len(g.log))
		}
	})
	t.Logf("entries applied %d, rejected %d, skipped %d; applied events %v", stats[0], stats[1], stats[2], events)
	if stats[0] == 0 || stats[1] == 0 || stats[2] == 0 {
		t.Fatalf("the generator does not cover every outcome: %v", stats)
	}
	for _, typ := range []string{EventMemberAdmitted, EventContractApproved, EventContractRetired, EventKeysReady} { // rejections are rarer: TestRejection covers them
		if events[typ] == 0 {
			t.Errorf("the generator never produced %s", typ)
		}
	}
}
