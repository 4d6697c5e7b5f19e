package round

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
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
		OpCommit: {Op: OpCommit, Round: "nps/7"},
		OpFetch:  {Op: OpFetch, Round: "nps/7"},
		OpPrint:  {Op: OpPrint, Round: "nps/7", Of: OfInput, Digest: make([]byte, DigestSize)},
		OpDecrypt: {Op: OpDecrypt, Round: "nps/7", Active: active, Sum: &Input{Ciphertexts: Ciphertexts{{1}, {2}}},
			Prints: map[kpi.OrgID]Print{"hosp-a": {Fingerprint: []uint64{9, 10}, Sig: []byte{11}}}},
		OpAttest: {Op: OpAttest, Round: "nps/7", Active: active, Sum: &Input{Ciphertexts: Ciphertexts{{3}, {4}}},
			Prints: map[kpi.OrgID]Print{"hosp-a": {Fingerprint: []uint64{12}, Sig: []byte{13}}, "hosp-b": {Fingerprint: []uint64{14}, Sig: []byte{15}}}},
		OpPads: {Op: OpPads, Round: "nps/7", Active: active, Opened: &kpi.Opened{Keep: []int{0}, Counts: []int64{12}, Sums: make([]byte, 24)},
			Attest: map[kpi.OrgID][]byte{"hosp-a": {6}, "hosp-b": {7}}},
	}
}

// TestRequestsGolden: every request's wire encoding, as a golden file in
// CBOR's diagnostic notation (RFC 8949 §8).
func TestRequestsGolden(t *testing.T) {
	for _, op := range Ops {
		req := requests()[op]
		b, err := Encode(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cbor.Diagnose(b)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", string(op)+".diag")
		if *update {
			if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to write it)", err)
		}
		if strings.TrimSpace(string(want)) != got {
			t.Errorf("%s encodes as\n%s\nwant\n%s", op, got, want)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if again, _ := Encode(back); !bytes.Equal(again, b) {
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
		{"decrypt without a sum", func(r map[Op]*Request) *Request { q := r[OpDecrypt]; q.Sum, q.Prints = nil, nil; return q }, "needs sum"},
		{"decrypt without fingerprints", func(r map[Op]*Request) *Request { q := r[OpDecrypt]; q.Prints = nil; return q }, "fingerprint"},
		{"print of something else", func(r map[Op]*Request) *Request { q := r[OpPrint]; q.Of = "key"; return q }, "fingerprint"},
		{"print without a digest", func(r map[Op]*Request) *Request { q := r[OpPrint]; q.Digest = q.Digest[:5]; return q }, "digest"},
		{"pads with a short digest", func(r map[Op]*Request) *Request { q := r[OpPads]; q.Digest = []byte{1}; return q }, "digest of the pad sum"},
		{"pads with what to fingerprint", func(r map[Op]*Request) *Request {
			q := r[OpPads]
			q.Of, q.Digest = OfInput, make([]byte, DigestSize)
			return q
		}, "digest of the pad sum"},
		{"decrypt without a threshold set", func(r map[Op]*Request) *Request { q := r[OpDecrypt]; q.Active = nil; return q }, "needs active"},
		{"commit carrying a sum", func(r map[Op]*Request) *Request { q := r[OpCommit]; q.Sum = r[OpDecrypt].Sum; return q }, "carries sum"},
		{"attest without a sum", func(r map[Op]*Request) *Request { q := r[OpAttest]; q.Sum, q.Prints = nil, nil; return q }, "needs sum"},
		{"pads without signatures", func(r map[Op]*Request) *Request { q := r[OpPads]; q.Attest = nil; return q }, "signatures"},
		{"fetch carrying fingerprints", func(r map[Op]*Request) *Request { q := r[OpFetch]; q.Prints = r[OpAttest].Prints; return q }, "carries sum"},
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
	fetch, _ := Encode(requests()[OpFetch])
	extra, _ := Encode(map[string]any{"op": "fetch", "round": "nps/7", "extra": 1})
	dup := append([]byte{0xa2, 0x62, 'o', 'p', 0x65}, "fetch"...)
	dup = append(dup, 0x62, 'o', 'p', 0x65)
	dup = append(dup, "fetch"...)
	for name, b := range map[string][]byte{
		"an unknown field":          extra,
		"data after the request":    append(slices.Clone(fetch), 0xa0),
		"a duplicate field":         dup,
		"an indefinite-length map":  {0xbf, 0x62, 'o', 'p', 0x65, 'f', 'e', 't', 'c', 'h', 0xff},
		"JSON (protocol version 2)": []byte(`{"op":"fetch","round":"nps/7"}`),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: got %v, want ErrBadRequest", name, err)
		}
	}
}

// backend records what reaches it and answers each step.
type backend struct {
	got  []Op
	from peer.ID
	err  error
}

func (b *backend) Commit(_ context.Context, from peer.ID, r *Request) (*Commitment, error) {
	b.got, b.from = append(b.got, r.Op), from
	return &Commitment{Entry: []byte{0}}, b.err
}

func (b *backend) Fetch(_ context.Context, _ peer.ID, r *Request) (*Input, error) {
	b.got = append(b.got, r.Op)
	return &Input{Ciphertexts: Ciphertexts{{1}, {2}}}, b.err
}

func (b *backend) Print(_ context.Context, _ peer.ID, r *Request) (*Print, error) {
	b.got = append(b.got, r.Op)
	return &Print{Fingerprint: []uint64{1, 2}, Sig: []byte{9}}, b.err
}

func (b *backend) Decrypt(_ context.Context, _ peer.ID, r *Request) (*Share, error) {
	b.got = append(b.got, r.Op)
	return &Share{Ciphertexts: Ciphertexts{{3}, {4}}, Sig: []byte{5}}, b.err
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
	var ok Commitment
	if err := cl.Call(ctx, member.ID(), reqs[OpCommit], &ok); err != nil || len(ok.Entry) != 1 {
		t.Fatalf("commit: %+v %v", ok, err)
	}
	var in Input
	if err := cl.Call(ctx, member.ID(), reqs[OpFetch], &in); err != nil || len(in.Ciphertexts) != 2 {
		t.Fatalf("fetch: %+v %v", in, err)
	}
	var pr Print
	if err := cl.Call(ctx, member.ID(), reqs[OpPrint], &pr); err != nil || string(pr.Sig) != "\x09" || len(pr.Fingerprint) != 2 {
		t.Fatalf("print: %+v %v", pr, err)
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
	if len(b.got) != 6 || b.from != aggregator.ID() {
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
		b, _ := Encode(r)
		f.Add(b)
	}
	pads, _ := Encode(map[string]any{"op": "pads", "round": "x", "opened": map[string]any{}, "attest": map[string]any{}})
	f.Add(pads)
	f.Add([]byte{0xbf})
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
