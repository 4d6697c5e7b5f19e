package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigValidate: Validate fills every section's defaults, derives
// raft's unset timings from the heartbeat, and refuses nonsense naming
// the config key and what to do.
func TestConfigValidate(t *testing.T) {
	base := func() Config { return Config{Org: "hosp-a"} }
	tests := []struct {
		name   string
		change func(*Config)
		errs   []string // substrings, each must appear; none: valid
		check  func(t *testing.T, c Config)
	}{
		{name: "defaults", change: func(*Config) {}, check: func(t *testing.T, c Config) {
			r := c.Raft
			if r.Heartbeat != 2*time.Second || r.Election != 4*time.Second || r.LeaderLease != time.Second || r.DeadVoterAfter != 5*time.Minute ||
				r.SnapshotThreshold != 1024 || r.TrailingLogs != 4096 || r.SnapshotInterval != 2*time.Minute {
				t.Fatalf("raft defaults: %+v", r)
			}
			if c.Round.Timeout != DefaultRoundTimeout || c.Store.Profile != "small" || c.Log.Level != "info" || c.Kind != "other" || c.Name != "hosp-a" {
				t.Fatalf("defaults: %+v", c)
			}
			if l := c.Loops; l.Schedule != 5*time.Second || l.Voters != 5*time.Second || l.Dial != 5*time.Second || l.StaleRounds != time.Second || l.Keys != 2*time.Second {
				t.Fatalf("loops: %+v", l)
			}
			if c.Now == nil {
				t.Fatal("no clock")
			}
		}},
		{name: "a heartbeat alone moves election and lease with it", change: func(c *Config) { c.Raft.Heartbeat = 5 * time.Second }, check: func(t *testing.T, c Config) {
			if c.Raft.Election != 10*time.Second || c.Raft.LeaderLease != 2500*time.Millisecond {
				t.Fatalf("%+v", c.Raft)
			}
		}},
		{name: "a heartbeat keeps an election set in the file", change: func(c *Config) { c.Raft.Heartbeat, c.Raft.Election = time.Second, 3*time.Second }, check: func(t *testing.T, c Config) {
			if c.Raft.Election != 3*time.Second || c.Raft.DeadVoterAfter != 5*time.Minute {
				t.Fatalf("%+v", c.Raft)
			}
		}},
		{name: "election equal to the heartbeat", change: func(c *Config) { c.Raft.Heartbeat, c.Raft.Election = time.Second, time.Second }},
		{name: "the voter loop runs twice per dead-voter time", change: func(c *Config) { c.Raft.Heartbeat, c.Raft.DeadVoterAfter = 300*time.Millisecond, 2*time.Second }, check: func(t *testing.T, c Config) {
			if c.Loops.Voters != time.Second {
				t.Fatalf("voters loop every %v", c.Loops.Voters)
			}
		}},
		{name: "loops set by a test are kept", change: func(c *Config) { c.Loops.Schedule = 50 * time.Millisecond }, check: func(t *testing.T, c Config) {
			if c.Loops.Schedule != 50*time.Millisecond {
				t.Fatalf("%+v", c.Loops)
			}
		}},
		{name: "election shorter than the heartbeat", change: func(c *Config) { c.Raft.Heartbeat, c.Raft.Election = 5*time.Second, 4*time.Second },
			errs: []string{"config: raft.election: 4s is shorter than raft.heartbeat (5s)", "set it to at least the heartbeat"}},
		{name: "a lease longer than the heartbeat", change: func(c *Config) { c.Raft.LeaderLease = 3 * time.Second },
			errs: []string{"config: raft.leader_lease: 3s is longer than raft.heartbeat (2s)", "at most the heartbeat"}},
		{name: "a heartbeat flag under a lease from the file", change: func(c *Config) { c.Raft.Heartbeat, c.Raft.LeaderLease = 500*time.Millisecond, time.Second },
			errs: []string{"raft.leader_lease: 1s is longer than raft.heartbeat (500ms)"}},
		{name: "a negative heartbeat", change: func(c *Config) { c.Raft.Heartbeat = -time.Second },
			errs: []string{"config: raft.heartbeat: -1s is negative; leave it out for the default"}},
		{name: "a heartbeat of a microsecond", change: func(c *Config) { c.Raft.Heartbeat = time.Microsecond },
			errs: []string{"raft.heartbeat: 1µs is not from 10ms to 1m0s"}},
		{name: "a heartbeat of an hour", change: func(c *Config) { c.Raft.Heartbeat = time.Hour },
			errs: []string{"raft.heartbeat: 1h0m0s is not from 10ms to 1m0s"}},
		{name: "dead voters replaced before an election", change: func(c *Config) { c.Raft.DeadVoterAfter = time.Second },
			errs: []string{"config: raft.dead_voter_after: 1s is shorter than raft.election (4s)"}},
		{name: "a negative snapshot interval", change: func(c *Config) { c.Raft.SnapshotInterval = -time.Minute },
			errs: []string{"raft.snapshot_interval: -1m0s is negative"}},
		{name: "snapshot checks without pause", change: func(c *Config) { c.Raft.SnapshotInterval = time.Millisecond },
			errs: []string{"raft.snapshot_interval: 1ms is shorter than 10ms"}},
		{name: "a negative round timeout", change: func(c *Config) { c.Round.Timeout = -time.Second },
			errs: []string{"config: round.timeout: -1s is not from 1s to 1h0m0s; leave it out for the default (1m0s)"}},
		{name: "a round timeout of a day", change: func(c *Config) { c.Round.Timeout = 24 * time.Hour },
			errs: []string{"round.timeout: 24h0m0s is not from 1s to 1h0m0s"}},
		{name: "every problem at once", change: func(c *Config) {
			c.Org, c.Kind, c.API, c.Log.Level, c.Log.Format, c.Store.Profile = "A", "clinic", "0.0.0.0:80", "loud", "xml", "huge"
			c.Raft.Election = time.Second
		}, errs: []string{"config: org:", "config: kind:", "config: api:", "config: log.level:", "config: log.format:", "config: store.profile:", "config: raft.election:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.change(&c)
			err := c.Validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				// Validated once, a config validates again unchanged.
				again := c
				if err := again.Validate(); err != nil || again.Raft != c.Raft || again.Loops != c.Loops || again.Round != c.Round {
					t.Fatalf("second Validate: %v; %+v, want %+v", err, again.Raft, c.Raft)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nlacks %q", err, want)
				}
			}
		})
	}
}

// TestInitWritesRaftAsGiven: init writes no derived raft timing to
// config.yaml, so a later `run --raft-heartbeat` moves them all.
func TestInitWritesRaftAsGiven(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	if _, err := Init(dir, Config{Org: "hosp-a", Raft: RaftConfig{DeadVoterAfter: 10 * time.Minute}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "election") || !strings.Contains(string(b), "dead_voter_after: 10m0s") {
		t.Fatalf("config.yaml:\n%s", b)
	}
	c, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Raft.Heartbeat = 5 * time.Second // --raft-heartbeat 5s
	if err := c.Validate(); err != nil || c.Raft.Election != 10*time.Second || c.Raft.DeadVoterAfter != 10*time.Minute {
		t.Fatalf("%v %+v", err, c.Raft)
	}
}
