package round

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/protocoltest"
	"github.com/cxnet/cxnet/protocol/rpc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// requests are one valid request of each operation.
func requests() map[Op]*Request {
	active := []kpi.OrgID{"hosp-a", "hosp-b"}
	return map[Op]*Request{
		OpCommit:  {Op: OpCommit, Round: "nps/7"},
		OpFetch:   {Op: OpFetch, Round: "nps/7"},
		OpDecrypt: {Op: OpDecrypt, Round: "nps/7", Active: active, Inputs: map[kpi.OrgID]Input{"hosp-a": {Counts: Ciphertexts{{1}}, Values: Ciphertexts{{2}}}}},
		OpAttest:  {Op: OpAttest, Round: "nps/7", Active: active, Shares: map[kpi.OrgID]Share{"hosp-a": {Counts: Ciphertexts{{3}}, Values: Ciphertexts{{4}}, Sig: []byte{5}}}},
		OpPads: {Op: OpPads, Round: "nps/7", Active: active, Opened: &kpi.Opened{Keep: []int{0}, Counts: []int64{12}, Sums: make([]byte, 24)},
			Attest: map[kpi.OrgID][]byte{"hosp-a": {6}, "hosp-b": {7}}},
	}
}

// TestRequestsGolden: every request's wire encoding, as a golden file.
func TestRequestsGolden(t *testing.T) {
	for _, op := range Ops {
		req := requests()[op]
		got, err := json.MarshalIndent(req, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", string(op)+".json")
		if *update {
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to write it)", err)
		}
		if strings.TrimSpace(string(want)) != string(got) {
			t.Errorf("%s encodes as\n%s\nwant\n%s", op, got, want)
		}
		back, err := Decode(want)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if again, _ := json.MarshalIndent(back, "", "  "); string(again) != string(got) {
			t.Errorf("%s does not round-trip", op)
		}
	}
}

// TestRequestCheck: a request carries what its operation needs, nothing
// else, and a sane round id.
func TestRequestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(map[Op]*Request) *Request
		want string
	}{
		{"unknown operation", func(r map[Op]*Request) *Request { q := r[OpCommit]; q.Op = "input"; return q }, "unknown operation"},
		{"no round", func(r map[Op]*Request) *Request { q := r[OpFetch]; q.Round = ""; return q }, "round id"},
		{"a huge round id", func(r map[Op]*Request) *Request { q := r[OpFetch]; q.Round = strings.Repeat("x", 201); return q }, "round id"},
		{"decrypt without inputs", func(r map[Op]*Request) *Request { q := r[OpDecrypt]; q.Inputs = nil; return q }, "needs inputs"},
		{"decrypt without a threshold set", func(r map[Op]*Request) *Request { q := r[OpDecrypt]; q.Active = nil; return q }, "needs active"},
		{"commit carrying inputs", func(r map[Op]*Request) *Request { q := r[OpCommit]; q.Inputs = r[OpDecrypt].Inputs; return q }, "carries inputs"},
		{"attest without shares", func(r map[Op]*Request) *Request { q := r[OpAttest]; q.Shares = nil; return q }, "needs shares"},
		{"pads without signatures", func(r map[Op]*Request) *Request { q := r[OpPads]; q.Attest = nil; return q }, "signatures"},
		{"fetch carrying shares", func(r map[Op]*Request) *Request { q := r[OpFetch]; q.Shares = r[OpAttest].Shares; return q }, "carries shares"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.edit(requests()).Check()
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	for op, r := range requests() {
		if err := r.Check(); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
	if _, err := Decode([]byte(`{"op":"fetch","round":"nps/7","extra":1}`)); err == nil {
		t.Error("an unknown field accepted")
	}
	if _, err := Decode([]byte(`{"op":"fetch","round":"nps/7"}{}`)); err == nil {
		t.Error("data after the request accepted")
	}
}

// backend records what reaches it and answers each step.
type backend struct {
	got  []Op
	from peer.ID
	err  error
}

func (b *backend) Commit(_ context.Context, from peer.ID, r *Request) error {
	b.got, b.from = append(b.got, r.Op), from
	return b.err
}

func (b *backend) Fetch(_ context.Context, _ peer.ID, r *Request) (*Input, error) {
	b.got = append(b.got, r.Op)
	return &Input{Counts: Ciphertexts{{1}}, Values: Ciphertexts{{2}}}, b.err
}

func (b *backend) Decrypt(_ context.Context, _ peer.ID, r *Request) (*Share, error) {
	b.got = append(b.got, r.Op)
	return &Share{Counts: Ciphertexts{{3}}, Values: Ciphertexts{{4}}, Sig: []byte{5}}, b.err
}

func (b *backend) Attest(_ context.Context, _ peer.ID, r *Request) ([]byte, error) {
	b.got = append(b.got, r.Op)
	return []byte{6}, b.err
}

func (b *backend) Pads(_ context.Context, _ peer.ID, r *Request) (*Pads, error) {
	b.got = append(b.got, r.Op)
	return &Pads{Pads: []byte{7}, Sig: []byte{8}}, b.err
}

// TestClientServer: over real loopback hosts, every step reaches the
// backend from the aggregator and its reply comes back typed; a backend's
// refusal comes back as an error; a peer the server does not authorise
// never reaches the backend.
func TestClientServer(t *testing.T) {
	set := protocol.NewPeerSet()
	aggregator, member, outsider := protocoltest.NewHost(t, set), protocoltest.NewHost(t, set), protocoltest.NewHost(t, set)
	set.Add(aggregator.ID(), member.ID(), outsider.ID())
	for _, h := range []*protocol.Host{aggregator, outsider} {
		h.AddPeer(peer.AddrInfo{ID: member.ID(), Addrs: member.Raw().Addrs()})
	}
	b := &backend{}
	srv := Serve(member.Raw(), b, Options{Authorize: func(p peer.ID) (int, error) {
		if p != aggregator.ID() {
			return 0, errors.New("only the aggregator of an ongoing round sends round requests")
		}
		return 1 << 20, nil
	}, Limits: rpc.Limits{Timeout: 10 * time.Second}})
	t.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	cl := NewClient(aggregator.Raw(), rpc.Limits{Timeout: 10 * time.Second})
	reqs := requests()
	var ok struct{}
	if err := cl.Call(ctx, member.ID(), reqs[OpCommit], &ok); err != nil {
		t.Fatal(err)
	}
	var in Input
	if err := cl.Call(ctx, member.ID(), reqs[OpFetch], &in); err != nil || len(in.Values) != 1 {
		t.Fatalf("fetch: %+v %v", in, err)
	}
	var sh Share
	if err := cl.Call(ctx, member.ID(), reqs[OpDecrypt], &sh); err != nil || string(sh.Sig) != "\x05" {
		t.Fatalf("decrypt: %+v %v", sh, err)
	}
	var sig []byte
	if err := cl.Call(ctx, member.ID(), reqs[OpAttest], &sig); err != nil || string(sig) != "\x06" {
		t.Fatalf("attest: %v %v", sig, err)
	}
	var p Pads
	if err := cl.Call(ctx, member.ID(), reqs[OpPads], &p); err != nil || string(p.Sig) != "\x08" {
		t.Fatalf("pads: %+v %v", p, err)
	}
	if len(b.got) != 5 || b.from != aggregator.ID() {
		t.Fatalf("the backend saw %v from %s", b.got, b.from)
	}
	b.err = errors.New("round nps/7 is open, not sealed")
	var remote *rpc.RemoteError
	if err := cl.Call(ctx, member.ID(), reqs[OpFetch], &in); !errors.As(err, &remote) || !strings.Contains(err.Error(), "not sealed") {
		t.Fatalf("a refusal: %v", err)
	}
	before := len(b.got)
	if err := NewClient(outsider.Raw(), rpc.Limits{Timeout: 10 * time.Second}).Call(ctx, member.ID(), reqs[OpDecrypt], &sh); err == nil || !strings.Contains(err.Error(), "only the aggregator") {
		t.Fatalf("an outsider's request: %v", err)
	}
	if len(b.got) != before {
		t.Fatal("an unauthorised peer's request reached the backend")
	}
	if err := cl.Call(ctx, member.ID(), &Request{Op: "input", Round: "nps/7"}, &ok); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a malformed request was sent: %v", err)
	}
}

// FuzzDecode: whatever a peer sends, decoding answers without a panic,
// and what it accepts passes Check and dispatches.
func FuzzDecode(f *testing.F) {
	for _, r := range requests() {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte(`{"op":"pads","round":"x","opened":{},"attest":{}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := Decode(b)
		if err != nil {
			return
		}
		if err := req.Check(); err != nil {
			t.Fatalf("Decode accepted a request Check refuses: %v", err)
		}
		if _, err := Dispatch(context.Background(), &backend{}, "", req); err != nil {
			t.Fatalf("a decoded request does not dispatch: %v", err)
		}
	})
}
