// Package node is the cxnet daemon: it loads a node's home (config and
// keys), wires the store, the contracts engine and (later) the consortium
// protocols together, and serves the local HTTP API, /metrics and the
// dashboard. It is the only package that wires concrete parts.
package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"gopkg.in/yaml.v3"
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
	// Underlay, for simulations and tests only (never read from or
	// written to config.yaml), supplies the node's libp2p host instead
	// of a TCP one on Listen, e.g. a host of libp2p's mock network: see
	// protocol.HostConfig.Underlay.
	Underlay func(key crypto.PrivKey) (host.Host, error) `yaml:"-"`
}

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

// Validate fills defaults and rejects nonsense with a message saying what
// to change.
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
	if !contains(Kinds, c.Kind) {
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
	if !contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if !contains([]string{"text", "json"}, c.Log.Format) {
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	if c.Round.Timeout == 0 {
		c.Round.Timeout = DefaultRoundTimeout
	}
	if c.Round.Timeout < minRoundTimeout || c.Round.Timeout > maxRoundTimeout {
		bad("round.timeout", "%v is not from %v to %v", c.Round.Timeout, minRoundTimeout, maxRoundTimeout)
	}
	if c.Store.Profile == "" {
		c.Store.Profile = "small"
	}
	if !contains([]string{"small", "large"}, c.Store.Profile) {
		bad("store.profile", "%q is not small or large", c.Store.Profile)
	}
	return errors.Join(errs...)
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

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
