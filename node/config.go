package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"gopkg.in/yaml.v3"

	"github.com/cxnet/cxnet/node/home"
)

// ConfigFile is the name of the config file in a node's home.
const ConfigFile = "config.yaml"

// Kinds of member organisations.
var Kinds = []string{"hospital", "pharma", "pharmacy", "payer", "other"}

var orgIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,63}$`)

// Config is a node's configuration: config.yaml in its home, overridden by
// flags and CXNET_* environment variables.
type Config struct {
	Org      string   `yaml:"org"`
	Name     string   `yaml:"name"`
	Kind     string   `yaml:"kind"`
	Listen   []string `yaml:"listen"`             // libp2p multiaddrs
	Announce []string `yaml:"announce,omitempty"` // addresses other members dial, when not Listen
	API      string   `yaml:"api"`                // host:port of the local API, loopback only
	Log      LogConfig
	Store    StoreConfig
	Raft     RaftConfig  `yaml:"raft,omitempty"`
	Round    RoundConfig `yaml:"round,omitempty"`

	// Now is the node's clock; time.Now when nil. Loops are the
	// intervals of its background loops. Neither is in config.yaml:
	// tests set them.
	Now   func() time.Time `yaml:"-"`
	Loops LoopConfig       `yaml:"-"`
	// Underlay, for simulations and tests only (never read from or
	// written to config.yaml), supplies the node's libp2p host instead
	// of a TCP one on Listen, e.g. a host of libp2p's mock network: see
	// protocol.HostConfig.Underlay.
	Underlay func(key crypto.PrivKey) (host.Host, error) `yaml:"-"`
}

// RaftConfig are the governance raft's timeouts. Links between
// organisations cross the internet: the defaults are WAN-safe, tests use
// shorter ones. Validate derives the unset ones from Heartbeat, so a flag
// that sets only the heartbeat keeps them consistent.
type RaftConfig struct {
	// Heartbeat is how long a follower waits for the leader before it
	// calls an election (default 2s); Election how long a candidate
	// waits for votes (default twice Heartbeat, at least Heartbeat);
	// LeaderLease how long a leader keeps leading without hearing from
	// a majority (default half of Heartbeat, at most Heartbeat).
	Heartbeat   time.Duration `yaml:"heartbeat,omitempty"`
	Election    time.Duration `yaml:"election,omitempty"`
	LeaderLease time.Duration `yaml:"leader_lease,omitempty"`
	// DeadVoterAfter is how long a voter may miss the leader's heartbeats
	// before a healthy non-voter takes its vote (it stays a member, as a
	// non-voter, and catches up when it comes back). Default 5m.
	DeadVoterAfter time.Duration `yaml:"dead_voter_after,omitempty"`
	// SnapshotThreshold is how many entries raft writes before it takes a
	// snapshot of the governance state (default 1024); TrailingLogs how
	// many it keeps after one (default 4096; a member further behind
	// receives the snapshot).
	SnapshotThreshold uint64 `yaml:"snapshot_threshold,omitempty"`
	TrailingLogs      uint64 `yaml:"trailing_logs,omitempty"`
	// SnapshotInterval is how often raft checks whether to snapshot
	// (default 2m).
	SnapshotInterval time.Duration `yaml:"snapshot_interval,omitempty"`
}

// LoopConfig are the intervals of the node's background loops. Zero
// fields take the defaults.
type LoopConfig struct {
	// Schedule: how often to open the scheduled rounds due (default 5s).
	Schedule time.Duration
	// Voters: how often the leader promotes and demotes voters (default
	// 5s, at most half of raft.dead_voter_after).
	Voters time.Duration
	// Dial: how often to dial the members not connected (default 5s).
	Dial time.Duration
	// StaleRounds: how often the node fails the rounds open past
	// round.timeout (default 1s).
	StaleRounds time.Duration
	// Keys: how often the key manager retries what failed (default 2s).
	Keys time.Duration
}

// Bounds of the raft timings that Validate accepts.
const (
	minRaftTimeout = 10 * time.Millisecond
	maxRaftTimeout = time.Minute
	minSnapshotGap = 10 * time.Millisecond
)

// RoundConfig bounds KPI rounds.
type RoundConfig struct {
	// Timeout bounds every round: the aggregator gives up and records
	// the round failed after it, and any other member of the round records
	// it failed when it is still open that long after it saw it open
	// (its aggregator stopped answering). Default 60s.
	Timeout time.Duration `yaml:"timeout"`
}

// Round timeouts: the default, and the bounds Validate accepts.
const (
	DefaultRoundTimeout = 60 * time.Second
	minRoundTimeout     = time.Second
	maxRoundTimeout     = time.Hour
)

// LogConfig selects the daemon's log output.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// StoreConfig tunes the store.
type StoreConfig struct {
	// Profile is "small" (the default: ~16 MiB memtables, fits a 1 GiB VM)
	// or "large" (Badger's defaults, for big ingest servers).
	Profile string `yaml:"profile"`
}

// Validate fills defaults and rejects nonsense with a message naming the
// config key and saying what to change, for every section. The node runs
// it once, in New; a config it filled validates again unchanged.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, a...)))
	}
	if !orgIDPattern.MatchString(c.Org) {
		bad("org", "%q is not an organisation id: use 2-64 lower-case letters, digits and dashes (e.g. hosp-a)", c.Org)
	}
	if strings.TrimSpace(c.Name) == "" {
		c.Name = c.Org
	}
	if c.Kind == "" {
		c.Kind = "other"
	}
	if !slices.Contains(Kinds, c.Kind) {
		bad("kind", "%q is not one of %s", c.Kind, strings.Join(Kinds, ", "))
	}
	if len(c.Listen) == 0 {
		c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	if c.API == "" {
		c.API = "127.0.0.1:0"
	}
	if err := checkLoopback(c.API); err != nil {
		bad("api", "%v", err)
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	if c.Round.Timeout == 0 {
		c.Round.Timeout = DefaultRoundTimeout
	}
	if c.Round.Timeout < minRoundTimeout || c.Round.Timeout > maxRoundTimeout {
		bad("round.timeout", "%v is not from %v to %v; leave it out for the default (%v)", c.Round.Timeout, minRoundTimeout, maxRoundTimeout, DefaultRoundTimeout)
	}
	c.Raft.validate(bad)
	c.Loops.fill(c.Raft)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Store.Profile == "" {
		c.Store.Profile = "small"
	}
	if !slices.Contains([]string{"small", "large"}, c.Store.Profile) {
		bad("store.profile", "%q is not small or large", c.Store.Profile)
	}
	return errors.Join(errs...)
}

// validate fills raft's defaults and reports nonsense through bad: every
// rule hashicorp/raft would refuse at start, and the timings that would
// make the consortium elect or replace voters for nothing.
func (r *RaftConfig) validate(bad func(field, format string, a ...any)) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"raft.heartbeat", r.Heartbeat}, {"raft.election", r.Election}, {"raft.leader_lease", r.LeaderLease},
		{"raft.dead_voter_after", r.DeadVoterAfter}, {"raft.snapshot_interval", r.SnapshotInterval}} {
		if d.v < 0 {
			bad(d.key, "%v is negative; leave it out for the default", d.v)
		}
	}
	if r.Heartbeat <= 0 {
		r.Heartbeat = 2 * time.Second
	}
	if r.Heartbeat < minRaftTimeout || r.Heartbeat > maxRaftTimeout {
		bad("raft.heartbeat", "%v is not from %v to %v (2s suits links between organisations)", r.Heartbeat, minRaftTimeout, maxRaftTimeout)
	}
	if r.Election <= 0 {
		r.Election = 2 * r.Heartbeat
	}
	if r.Election < r.Heartbeat {
		bad("raft.election", "%v is shorter than raft.heartbeat (%v): a candidate would give up before a follower notices the leader is gone; set it to at least the heartbeat (twice is the default)", r.Election, r.Heartbeat)
	}
	if r.Election > 10*maxRaftTimeout {
		bad("raft.election", "%v is more than %v", r.Election, 10*maxRaftTimeout)
	}
	if r.LeaderLease <= 0 {
		r.LeaderLease = r.Heartbeat / 2
	}
	if r.LeaderLease > r.Heartbeat {
		bad("raft.leader_lease", "%v is longer than raft.heartbeat (%v): a partitioned leader would outlive its successor's election; set it to at most the heartbeat (half is the default)", r.LeaderLease, r.Heartbeat)
	}
	if r.LeaderLease < minRaftTimeout/2 {
		bad("raft.leader_lease", "%v is shorter than %v", r.LeaderLease, minRaftTimeout/2)
	}
	if r.DeadVoterAfter <= 0 {
		r.DeadVoterAfter = 5 * time.Minute
	}
	if r.DeadVoterAfter < r.Election {
		bad("raft.dead_voter_after", "%v is shorter than raft.election (%v): a voter would lose its vote before an election could notice it is gone; set it to minutes", r.DeadVoterAfter, r.Election)
	}
	if r.SnapshotThreshold == 0 {
		r.SnapshotThreshold = 1024
	}
	if r.TrailingLogs == 0 {
		r.TrailingLogs = 4096
	}
	if r.SnapshotInterval <= 0 {
		r.SnapshotInterval = 2 * time.Minute
	}
	if r.SnapshotInterval < minSnapshotGap {
		bad("raft.snapshot_interval", "%v is shorter than %v; raft would check for snapshots without pause", r.SnapshotInterval, minSnapshotGap)
	}
}

// fill sets the loops' defaults; the voter loop runs at least twice per
// raft.dead_voter_after.
func (l *LoopConfig) fill(r RaftConfig) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.Schedule, 5*time.Second)
	def(&l.Voters, min(5*time.Second, r.DeadVoterAfter/2))
	def(&l.Dial, 5*time.Second)
	def(&l.StaleRounds, time.Second)
	def(&l.Keys, 2*time.Second)
}

// checkLoopback accepts host:port on a loopback address only: the API is
// for this machine's operators; other members talk over libp2p.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8001)", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: bad port", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; the local API only listens on 127.0.0.1 or [::1]", addr)
	}
	return nil
}

// Home is a node's home directory with its keys loaded (package home).
type Home = home.Home

// Init creates a node's home: the config file (cfg, validated) and the
// keys and API token (home.Create). It refuses to touch an existing home.
func Init(dir string, cfg Config) (*Home, error) {
	given := cfg.Raft
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Raft's section is written as given: the timings Validate derives
	// from the heartbeat follow it when a flag changes only the heartbeat.
	cfg.Raft = given
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		return nil, fmt.Errorf("%s is already a cxnet home; refusing to overwrite its keys (pick another --home, or remove it if you really mean to start over)", dir)
	}
	h, err := home.Create(dir)
	if err != nil {
		return nil, err
	}
	if err := cfg.write(filepath.Join(dir, ConfigFile)); err != nil {
		return nil, err
	}
	return h, nil
}

// LoadHome reads a home's keys (home.Load).
func LoadHome(dir string) (*Home, error) { return home.Load(dir) }

// LoadConfig reads home/config.yaml.
func LoadConfig(home string) (*Config, error) {
	path := filepath.Join(home, ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no cxnet node at %s (no %s): create one with `cxnet init --home %s --org ...`", home, ConfigFile, home)
		}
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) write(path string) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	head := "# cxnet node configuration. Flags and CXNET_* environment variables override it.\n"
	return os.WriteFile(path, append([]byte(head), b...), 0o644)
}
