package contracts

// Readers of YAML nodes: each checks a node's kind and type and records a
// *kpi.InputError with the node's line when it is not what the field needs.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cxnet/cxnet/kpi"
)

// deref follows aliases (*name) to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

// describe names the kind of a node for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "empty"
		case "!!int", "!!float":
			return n.Value
		case "!!bool":
			return "true/false"
		case "!!timestamp":
			return "a date (" + n.Value + ")"
		case "!!str":
			return strconv.Quote(n.Value)
		}
	}
	return "a " + strings.TrimPrefix(n.ShortTag(), "!!")
}

// entry is one key: value pair of a mapping.
type entry struct {
	key, val *yaml.Node
}

func (e entry) line() int { return e.val.Line }

// fields checks that n is a mapping of known, unique keys and returns them.
func (p *parser) fields(n *yaml.Node, path string, allowed []string) (map[string]entry, []string) {
	fs := map[string]entry{}
	var order []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kd := deref(k)
		if kd.Kind != yaml.ScalarNode || kd.ShortTag() == "!!null" {
			p.errorf(k.Line, path, "keys must be plain names, not %s", describe(k))
			continue
		}
		name := kd.Value
		full := joinPath(path, name)
		if prev, dup := fs[name]; dup {
			p.errorf(k.Line, full, "duplicate field (first set on line %d); keep one", prev.key.Line)
			continue
		}
		if allowed != nil && !slices.Contains(allowed, name) {
			hint := ""
			if len(p.errs) < MaxErrors { // spare the search for a problem not shown
				if s := suggest(name, allowed); s != "" {
					hint = fmt.Sprintf(" (did you mean %s?)", s)
				}
			}
			p.errorf(k.Line, full, "unknown field%s; allowed: %s", hint, strings.Join(allowed, ", "))
			continue
		}
		fs[name] = entry{key: k, val: v}
		order = append(order, name)
	}
	return fs, order
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// suggest returns the allowed name closest to a misspelt one, if close.
func suggest(name string, allowed []string) string {
	best, bestD := "", min(3, (len(name)+1)/2)
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(name), a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// text returns a scalar as written. Numbers, dates and booleans are taken
// as their text, so that a category may be written 2026 or true.
func (p *parser) text(n *yaml.Node, path string) (string, bool) {
	d := deref(n)
	if d.Kind != yaml.ScalarNode {
		p.errorf(n.Line, path, "must be text, not %s", describe(n))
		return "", false
	}
	switch d.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		return d.Value, true
	case "!!null":
		p.errorf(n.Line, path, "has no value; give one or remove the field")
	default:
		p.errorf(n.Line, path, "must be text, not %s", describe(n))
	}
	return "", false
}

func (p *parser) checkName(line int, path, s string) bool {
	switch {
	case s == "":
		p.errorf(line, path, "must not be empty")
	case len(s) > MaxNameLen:
		p.errorf(line, path, "must be at most %d bytes (got %d)", MaxNameLen, len(s))
	case !printable(s):
		p.errorf(line, path, "must be printable text on one line (no control characters)")
	default:
		return true
	}
	return false
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// integer returns a whole number written in decimal.
func (p *parser) integer(n *yaml.Node, path string) (int, bool) {
	d := deref(n)
	if d.Kind == yaml.ScalarNode && d.ShortTag() == "!!int" {
		i, err := strconv.ParseInt(d.Value, 10, 32)
		if err == nil {
			return int(i), true
		}
		if errors.Is(err, strconv.ErrRange) {
			p.errorf(n.Line, path, "%s is too large", d.Value)
			return 0, false
		}
	}
	p.errorf(n.Line, path, "must be a whole number, not %s", describe(n))
	return 0, false
}

// decimal returns an exact decimal number.
func (p *parser) decimal(n *yaml.Node, path string) (kpi.Decimal, bool) {
	d := deref(n)
	if d.Kind != yaml.ScalarNode || (d.ShortTag() != "!!int" && d.ShortTag() != "!!float") {
		p.errorf(n.Line, path, "must be a number, not %s", describe(n))
		return kpi.Decimal{}, false
	}
	v, err := kpi.ParseDecimal(d.Value)
	switch {
	case errors.Is(err, kpi.ErrDecimalRange):
		p.errorf(n.Line, path, "%s is out of range: at most 18 significant digits and 18 decimals", d.Value)
	case err != nil:
		p.errorf(n.Line, path, "must be a decimal number like 2 or 1.5 (got %s)", d.Value)
	default:
		return v, true
	}
	return kpi.Decimal{}, false
}

// list returns the elements of a sequence.
func (p *parser) list(n *yaml.Node, path, example string) ([]*yaml.Node, bool) {
	d := deref(n)
	if d.Kind != yaml.SequenceNode {
		p.errorf(n.Line, path, "must be a list like %s, not %s", example, describe(n))
		return nil, false
	}
	return d.Content, true
}

// mapping returns the node of a mapping.
func (p *parser) mapping(n *yaml.Node, path, example string) (*yaml.Node, bool) {
	d := deref(n)
	if d.Kind != yaml.MappingNode {
		p.errorf(n.Line, path, "must be a mapping like %s, not %s", example, describe(n))
		return nil, false
	}
	return d, true
}

// uniqueNames reads a non-empty list of unique names.
func (p *parser) uniqueNames(n *yaml.Node, path, one, many, example string, check func(line int, path, s string) bool) ([]string, bool) {
	items, ok := p.list(n, path, example)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		p.errorf(n.Line, path, "must list at least one %s, like %s", one, example)
		return nil, false
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(items))
	good := true
	for i, it := range items {
		s, ok := p.text(it, indexPath(path, i))
		if !ok || !check(it.Line, indexPath(path, i), s) {
			good = false
			continue
		}
		if seen[s] {
			p.errorf(it.Line, path, "%s must be unique (%q appears twice)", many, s)
			good = false
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, good
}

func (p *parser) orgID(line int, path, s string) bool {
	if !orgIDRe.MatchString(s) {
		p.errorf(line, path, "organisation ids are 2 to 64 characters from a-z, 0-9 and \"-\" (got %q)", s)
		return false
	}
	return true
}
