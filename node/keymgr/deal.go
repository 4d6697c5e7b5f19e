package keymgr

// Dealing: each member deals Shamir shares of its secret key to the
// epoch's other members over /cxnet/keys, accepts theirs, and combines
// what it was dealt into its threshold key.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/keys"
	"github.com/cxnet/cxnet/protocol/rpc"
	"github.com/cxnet/cxnet/store"
)

// deal deals this node's Shamir shares of epoch e to the other members
// (once: the shares are stored before the first is sent) and combines the
// shares dealt to this node once it has them all.
func (k *Manager) deal(ctx context.Context, e contracts.KeyEpoch) {
	if e.Params != k.cfg.Params.Name() {
		return
	}
	if _, err := k.cfg.Secrets.Secret(e.Epoch, secretTKey); err == nil {
		return // combined: every member dealt to this node; this node dealt before it could combine
	}
	sk, err := k.secretKey(e.Epoch)
	if err != nil {
		k.warnOnce("key epoch secret key", "epoch", e.Epoch, "err", err)
		return
	}
	if _, err := k.cfg.Secrets.Secret(e.Epoch, secretDealt+string(e.Members[0])); errors.Is(err, store.ErrNoSecret) {
		shares, err := privacy.Deal(k.cfg.Params, sk, e.Threshold, len(e.Members))
		if err != nil {
			k.warnOnce("deal threshold shares", "epoch", e.Epoch, "err", err)
			return
		}
		// The first member's share is written last: its presence means
		// every share is stored.
		for i := len(e.Members) - 1; i >= 0; i-- {
			if err := k.cfg.Secrets.PutSecret(e.Epoch, secretDealt+string(e.Members[i]), shares[i]); err != nil {
				k.warnOnce("store dealt shares", "epoch", e.Epoch, "err", err)
				return
			}
		}
	}
	var wg sync.WaitGroup
	for _, m := range e.Members {
		if _, err := k.cfg.Secrets.Secret(e.Epoch, secretSent+string(m)); err == nil {
			continue
		}
		share, err := k.cfg.Secrets.Secret(e.Epoch, secretDealt+string(m))
		if err != nil {
			k.warnOnce("read dealt share", "epoch", e.Epoch, "err", err)
			return
		}
		if m == k.org {
			k.received(e.Epoch, m, share)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := k.send(ctx, e.Epoch, m, share); err != nil {
				if ctx.Err() == nil {
					k.warnOnce("deal threshold share; retrying", "epoch", e.Epoch, "to", string(m), "err", err)
				}
				return
			}
			if err := k.cfg.Secrets.PutSecret(e.Epoch, secretSent+string(m), nil); err != nil {
				k.warnOnce("store dealt mark", "epoch", e.Epoch, "err", err)
			}
		}()
	}
	wg.Wait()
	k.combine(e)
}

var _ keys.Backend = (*Manager)(nil)

// Server is this node's side of /cxnet/keys (package protocol/keys):
// peers admitted may send a deal of the size this node's parameters give
// a dealt share, and the key manager checks and stores it.
func (k *Manager) Server(admitted func(peer.ID) bool) (*keys.Server, error) {
	return keys.NewServer(k, keys.ServerConfig{Admitted: admitted, MaxShareSize: privacy.DealtShareSize(k.cfg.Params), Log: k.log})
}

// Serve registers /cxnet/keys on h for the peers admitted admits.
func (k *Manager) Serve(h host.Host, admitted func(peer.ID) bool) *rpc.Server {
	srv, err := k.Server(admitted)
	if err != nil {
		// A wiring bug (TestKeysServerFitsDealtShare builds this
		// server): refuse every peer rather than serve unchecked.
		k.log.Error("/cxnet/keys not served: other members cannot deal this node its key shares", "err", err)
		return rpc.ServeWith(h, keys.ID, nil, rpc.ServerOptions{Log: k.log})
	}
	return srv.Serve(h)
}

// send deals one share to member m.
func (k *Manager) send(ctx context.Context, epoch uint64, m kpi.OrgID, share []byte) error {
	var pid peer.ID
	k.cfg.State(func(s *contracts.State) {
		if mm, ok := s.Member(m); ok {
			pid, _ = peer.Decode(mm.Member.PeerID)
		}
	})
	if pid == "" {
		return fmt.Errorf("member %s has no peer id", m)
	}
	cl, err := keys.NewClient(k.cfg.Host(), keys.ClientConfig{MaxShareSize: privacy.DealtShareSize(k.cfg.Params)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, dealTimeout)
	defer cancel()
	return cl.Deal(ctx, pid, keys.Deal{Epoch: epoch, Share: share})
}

// AcceptDeal implements keys.Backend: another member deals this node a
// share. The dealer must be an admitted member and a member of the
// epoch, this node too, and the share must have the shape of one; a
// dealer cannot change a share it dealt.
func (k *Manager) AcceptDeal(_ context.Context, from peer.ID, d keys.Deal) error {
	var dealer kpi.OrgID
	var epoch *contracts.KeyEpoch
	k.cfg.State(func(s *contracts.State) {
		for _, m := range s.Members() {
			if m.State == contracts.MemberAdmitted && m.Member.PeerID == from.String() {
				dealer = m.Member.Org
			}
		}
		for _, get := range []func() (contracts.KeyEpoch, bool){s.Keys, s.PendingKeys} {
			if e, ok := get(); ok && e.Epoch == d.Epoch {
				epoch = &e
			}
		}
	})
	switch {
	case dealer == "":
		return fmt.Errorf("peer %s is not an admitted member", from)
	case epoch == nil:
		return fmt.Errorf("key epoch %d is not current on %s; retry once its log has caught up", d.Epoch, k.org)
	}
	if _, ok := epoch.Point(dealer); !ok {
		return fmt.Errorf("%s is not a member of key epoch %d", dealer, d.Epoch)
	}
	if _, ok := epoch.Point(k.org); !ok {
		return fmt.Errorf("%s is not a member of key epoch %d", k.org, d.Epoch)
	}
	if err := privacy.CheckDealt(k.cfg.Params, d.Share); err != nil {
		return fmt.Errorf("share from %s: %w", dealer, err)
	}
	if err := k.received(d.Epoch, dealer, d.Share); err != nil {
		return err
	}
	k.Poke()
	return nil
}

// received stores the share dealer dealt this node for epoch.
func (k *Manager) received(epoch uint64, dealer kpi.OrgID, share []byte) error {
	old, err := k.cfg.Secrets.Secret(epoch, secretFrom+string(dealer))
	switch {
	case err == nil && bytes.Equal(old, share):
		return nil
	case err == nil:
		k.warnOnce("a member dealt a second, different share; keeping the first", "epoch", epoch, "dealer", string(dealer))
		return fmt.Errorf("%s dealt a different share for key epoch %d before", dealer, epoch)
	case !errors.Is(err, store.ErrNoSecret):
		return err
	}
	return k.cfg.Secrets.PutSecret(epoch, secretFrom+string(dealer), share)
}

// combine builds this node's threshold key once every member has dealt it
// a share.
func (k *Manager) combine(e contracts.KeyEpoch) {
	var dealt [][]byte
	for _, m := range e.Members {
		b, err := k.cfg.Secrets.Secret(e.Epoch, secretFrom+string(m))
		if err != nil {
			return // not yet
		}
		dealt = append(dealt, b)
	}
	tk, err := privacy.CombineDealt(k.cfg.Params, dealt)
	var b []byte
	if err == nil {
		b, err = tk.MarshalBinary()
	}
	if err == nil {
		err = k.cfg.Secrets.PutSecret(e.Epoch, secretTKey, b)
	}
	if err != nil {
		k.warnOnce("combine threshold key", "epoch", e.Epoch, "err", err)
		return
	}
	k.log.Info("threshold key ready", "epoch", e.Epoch, "threshold", e.Threshold, "members", len(e.Members))
	k.cfg.OnChange()
}
