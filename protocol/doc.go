// Package protocol is cxnet's libp2p layer: the node's host (Ed25519
// identity, TCP + TLS only, resource and connection limits, optional
// private-network PSK), the allow-list that keeps non-members out, and the
// IDs of the wire protocols between member nodes. Each wire protocol lives
// in its own sub-package: raftnet carries hashicorp/raft traffic, rpc is
// the request/response framing of the node's own protocols, join lets an
// admitted member's node into raft, gov hands the raft leader what only
// it can do (append an entry, a read index, add a server), keys deals a
// member's Shamir shares of a key epoch to the other members, round is a
// KPI round between its aggregator and the members (each holds its ID,
// client and server).
//
// It imports only the standard library, kpi, go-libp2p and hashicorp/raft.
// It must not import store, contracts, privacy, ingest, node or cli: the
// node wires those parts to the host (for example by feeding the
// replicated member list to the allow-list through [Members]).
package protocol

import p2pproto "github.com/libp2p/go-libp2p/core/protocol"

// Protocol IDs of the streams between member nodes. Every one is versioned;
// a change that old nodes cannot read gets a new ID. A protocol with its
// own sub-package declares its ID there (join.ID, gov.ID, keys.ID,
// round.ID).
const (
	// RaftID carries hashicorp/raft RPCs (see package raftnet).
	RaftID p2pproto.ID = "/cxnet/raft/1.0.0"
)
