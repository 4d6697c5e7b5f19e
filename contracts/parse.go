package contracts

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cxnet/cxnet/kpi"
)

// Fields of a contract file, in the order the documentation lists them.
var (
	topFields = []string{
		"id", "version", "title", "measure", "aggregate", "value_range",
		"threshold", "bins", "precision", "filter", "group_by", "window",
		"period", "participants", "approvals", "min_participants", "privacy",
		"readers", "schedule",
	}
	windowFields  = []string{"from", "to"}
	privacyFields = []string{"min_cohort", "epsilon", "budget"}
)

var (
	contractIDRe = regexp.MustCompile(`^[a-z0-9-]{3,64}$`)
	orgIDRe      = regexp.MustCompile(`^[a-z0-9-]{2,64}$`)
)

// Defaults filled in by Parse.
const (
	DefaultVersion   = 1
	DefaultMinCohort = 11
)

// defaultNPSRange is the value range of an nps contract that names none.
var defaultNPSRange = Range{Lo: kpi.DecimalFromInt(0), Hi: kpi.DecimalFromInt(10)}

// Parse reads and validates a contract file. file names it in error
// messages. Defaults are filled in: version 1, precision 0, period none,
// approvals all, min_participants = all participants, privacy min_cohort
// 11, epsilon 0, budget 0, and value_range [0, 10] for nps.
//
// Every problem found is reported, each as a *kpi.InputError with its
// line and field path, joined with errors.Join: use errors.As to get the
// first, or unwrap the join to list them all.
func Parse(data []byte, file string) (*Contract, error) {
	if file == "" {
		file = "contract"
	}
	p := &parser{file: file, bad: map[string]bool{}}
	if len(data) > MaxContractSize {
		p.errorf(0, "", "file is %d bytes; a contract file may have at most %d", len(data), MaxContractSize)
		return nil, p.err()
	}
	root := p.document(data)
	if root == nil {
		return nil, p.err()
	}
	c := p.contract(root)
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// MaxErrors is how many problems Parse reports at most.
const MaxErrors = 50

type parser struct {
	file    string
	errs    []*kpi.InputError
	dropped int             // problems beyond MaxErrors
	bad     map[string]bool // top-level fields with errors: skip checks that depend on them
}

func (p *parser) errorf(line int, path, format string, args ...any) {
	top, _, _ := strings.Cut(path, ".")
	top, _, _ = strings.Cut(top, "[")
	p.bad[top] = true
	if len(p.errs) >= MaxErrors {
		p.dropped++
		return
	}
	p.errs = append(p.errs, &kpi.InputError{Pos: kpi.Position{File: p.file, Line: int64(line)}, Field: path, Path: true, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(p.errs, func(a, b *kpi.InputError) int { return cmp.Compare(a.Pos.Line, b.Pos.Line) })
	if p.dropped > 0 {
		p.errs = append(p.errs, &kpi.InputError{Pos: kpi.Position{File: p.file}, Path: true, Msg: fmt.Sprintf("%d more problems not shown; fix these first", p.dropped)})
	}
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document decodes the YAML and returns its root mapping, or nil after
// recording why there is none.
func (p *parser) document(data []byte) (root *yaml.Node) {
	defer func() {
		if r := recover(); r != nil { // yaml.v3 is not expected to panic; never let it crash a node
			p.errorf(0, "", "invalid YAML: %v", r)
			root = nil
		}
	}()
	const empty = "the file is empty; a contract needs at least id, measure, aggregate and participants"
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(0, "", empty)
		} else {
			p.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntax(err)
		return nil
	default:
		p.errorf(next.Line, "", "a contract file holds one YAML document; remove the second \"---\" and what follows it")
		return nil
	}
	root = &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			p.errorf(0, "", empty)
			return nil
		}
		root = root.Content[0]
	}
	line := root.Line
	root = deref(root)
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		p.errorf(0, "", empty)
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(line, "", "a contract must be a mapping of fields (id: ..., measure: ..., aggregate: ...), not %s", describe(root))
		return nil
	}
	return root
}

func (p *parser) syntax(err error) {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errorf(line, "", "invalid YAML: %s", m[2])
		return
	}
	p.errorf(0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// contract reads every field of the root mapping, then checks how they
// fit together.
func (p *parser) contract(root *yaml.Node) *Contract {
	fs, _ := p.fields(root, "", topFields)
	c := &Contract{
		Version:   DefaultVersion,
		Period:    PeriodNone,
		Approvals: Approvals{Rule: ApprovalsAll},
		Privacy:   Privacy{MinCohort: DefaultMinCohort},
	}
	required := func(name, hint string) (entry, bool) {
		e, ok := fs[name]
		if !ok {
			p.errorf(root.Line, name, "is required; add %s", hint)
		}
		return e, ok
	}

	if e, ok := required("id", "id: followed by 3 to 64 characters from a-z, 0-9 and \"-\""); ok {
		if s, ok := p.text(e.val, "id"); ok {
			if contractIDRe.MatchString(s) {
				c.ID = kpi.ContractID(s)
			} else {
				p.errorf(e.line(), "id", "must be 3 to 64 characters from a-z, 0-9 and \"-\" (got %q)", s)
			}
		}
	}
	if e, ok := fs["version"]; ok {
		if v, ok := p.integer(e.val, "version"); ok {
			if v < 1 {
				p.errorf(e.line(), "version", "must be 1 or more (got %d)", v)
			}
			c.Version = v
		}
	}
	if e, ok := fs["title"]; ok {
		if s, ok := p.text(e.val, "title"); ok {
			switch n := utf8.RuneCountInString(s); {
			case n > MaxTitleLen:
				p.errorf(e.line(), "title", "must be at most %d characters (got %d)", MaxTitleLen, n)
			case !printable(s):
				p.errorf(e.line(), "title", "must be printable text on one line (no control characters)")
			default:
				c.Title = s
			}
		}
	}
	if e, ok := required("measure", "measure: followed by the measure to aggregate, e.g. measure: nps"); ok {
		if s, ok := p.text(e.val, "measure"); ok {
			switch {
			case s == "":
				p.errorf(e.line(), "measure", "must not be empty")
			case len(s) > MaxNameLen:
				p.errorf(e.line(), "measure", "must be at most %d bytes (got %d)", MaxNameLen, len(s))
			case strings.IndexByte(s, 0) >= 0 || !printable(s):
				p.errorf(e.line(), "measure", "must be printable text on one line (no NUL or control characters)")
			default:
				c.Measure = s
			}
		}
	}
	aggEntry, hasAgg := required("aggregate", "aggregate: followed by one of "+joinAggregates())
	if hasAgg {
		if s, ok := p.text(aggEntry.val, "aggregate"); ok {
			if slices.Contains(aggregates, Aggregate(s)) {
				c.Aggregate = Aggregate(s)
			} else {
				p.errorf(aggEntry.line(), "aggregate", "must be one of %s (got %q)", joinAggregates(), s)
			}
		}
	}
	if e, ok := fs["value_range"]; ok {
		c.ValueRange = p.valueRange(e)
	}
	if e, ok := fs["threshold"]; ok {
		if d, ok := p.decimal(e.val, "threshold"); ok {
			c.Threshold = &d
		}
	}
	if e, ok := fs["bins"]; ok {
		c.Bins = p.bins(e)
	}
	if e, ok := fs["precision"]; ok {
		if v, ok := p.integer(e.val, "precision"); ok {
			if v < 0 || v > MaxPrecision {
				p.errorf(e.line(), "precision", "must be from 0 to %d decimals (got %d)", MaxPrecision, v)
			}
			c.Precision = v
		}
	}
	if e, ok := fs["filter"]; ok {
		c.Filter = p.filter(e)
	}
	if e, ok := fs["group_by"]; ok {
		c.GroupBy = p.groupBy(e)
	}
	if e, ok := fs["window"]; ok {
		c.Window = p.window(e)
	}
	if e, ok := fs["period"]; ok {
		if s, ok := p.text(e.val, "period"); ok {
			if slices.Contains(periods, Period(s)) {
				c.Period = Period(s)
			} else {
				p.errorf(e.line(), "period", "must be one of none, month, quarter, year (got %q)", s)
			}
		}
	}
	if e, ok := required("participants", "participants: followed by the list of organisation ids, e.g. [hosp-a, hosp-b]"); ok {
		if ids, ok := p.uniqueNames(e.val, "participants", "participant", "organisation ids", "[hosp-a, hosp-b]", p.orgID); ok {
			c.Participants = toOrgIDs(ids)
		}
	}
	if e, ok := fs["approvals"]; ok {
		c.Approvals = p.approvals(e)
	}
	if e, ok := fs["min_participants"]; ok {
		if v, ok := p.integer(e.val, "min_participants"); ok {
			c.MinParticipants = v
		}
	}
	if e, ok := fs["privacy"]; ok {
		c.Privacy = p.privacy(e)
	}
	if e, ok := fs["readers"]; ok {
		if items, ok := p.list(e.val, "readers", "[hosp-a, pharma-x]"); ok && len(items) > 0 {
			if ids, ok := p.uniqueNames(e.val, "readers", "reader", "organisation ids", "[hosp-a, pharma-x]", p.orgID); ok {
				c.Readers = toOrgIDs(ids)
			}
		}
	}

	if e, ok := fs["schedule"]; ok {
		if v, ok := p.text(e.val, "schedule"); ok {
			c.Schedule = p.schedule(e.line(), v)
		}
	}

	p.crossCheck(c, root, fs)
	return c
}

// schedule reads a round schedule: a whole number of minutes, hours or
// days ("90m", "24h", "7d"), from MinSchedule to MaxSchedule.
func (p *parser) schedule(line int, v string) time.Duration {
	units := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}
	const what = `must be a whole number of minutes, hours or days, like "30m", "24h" or "7d"`
	if len(v) < 2 || units[v[len(v)-1]] == 0 {
		p.errorf(line, "schedule", "%s (got %q)", what, v)
		return 0
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n <= 0 || n > int(MaxSchedule/time.Minute) {
		p.errorf(line, "schedule", "%s (got %q)", what, v)
		return 0
	}
	d := time.Duration(n) * units[v[len(v)-1]]
	if d < MinSchedule || d > MaxSchedule {
		p.errorf(line, "schedule", "must be from 1m to 366d (got %q)", v)
		return 0
	}
	return d
}

func joinAggregates() string {
	s := make([]string, len(aggregates))
	for i, a := range aggregates {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func toOrgIDs(ids []string) []kpi.OrgID {
	out := make([]kpi.OrgID, len(ids))
	for i, s := range ids {
		out[i] = kpi.OrgID(s)
	}
	return out
}

func (p *parser) valueRange(e entry) *Range {
	items, ok := p.list(e.val, "value_range", "[0, 10]")
	if !ok {
		return nil
	}
	if len(items) != 2 {
		p.errorf(e.line(), "value_range", "must be two numbers [lo, hi] (got %d)", len(items))
		return nil
	}
	lo, ok1 := p.decimal(items[0], "value_range[0]")
	hi, ok2 := p.decimal(items[1], "value_range[1]")
	if !ok1 || !ok2 {
		return nil
	}
	if lo.Cmp(hi) >= 0 {
		p.errorf(e.line(), "value_range", "the lower bound must be below the upper bound (got [%s, %s])", lo, hi)
		return nil
	}
	return &Range{Lo: lo, Hi: hi}
}

func (p *parser) bins(e entry) []kpi.Decimal {
	items, ok := p.list(e.val, "bins", "[0, 7, 9, 11]")
	if !ok {
		return nil
	}
	if len(items) < 2 {
		p.errorf(e.line(), "bins", "must list at least 2 edges, like [0, 7, 9, 11] (got %d)", len(items))
		return nil
	}
	bins := make([]kpi.Decimal, 0, len(items))
	good := true
	for i, it := range items {
		d, ok := p.decimal(it, indexPath("bins", i))
		if !ok {
			good = false
			continue
		}
		if i > 0 && good && d.Cmp(bins[i-1]) <= 0 {
			p.errorf(it.Line, "bins", "edges must be strictly increasing (bins[%d] = %s is not above bins[%d] = %s)", i, d, i-1, bins[i-1])
			good = false
		}
		bins = append(bins, d)
	}
	if !good {
		return nil
	}
	return bins
}

// dimLists reads a mapping of dimension -> non-empty list of unique values.
func (p *parser) dimLists(e entry, field, example string, visit func(key *yaml.Node, name string, values []string)) {
	m, ok := p.mapping(e.val, field, example)
	if !ok {
		return
	}
	fs, order := p.fields(m, field, nil)
	for _, name := range order {
		f := fs[name]
		path := joinPath(field, name)
		if !p.checkName(f.key.Line, path, name) {
			continue
		}
		values, ok := p.uniqueNames(f.val, path, "category", "categories", "[a, b]", p.checkName)
		if !ok {
			continue
		}
		visit(f.key, name, values)
	}
}

func (p *parser) filter(e entry) map[string][]string {
	out := map[string][]string{}
	p.dimLists(e, "filter", "{therapeutic_area: [diabetes]}", func(_ *yaml.Node, name string, values []string) {
		out[name] = values
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

func (p *parser) groupBy(e entry) []GroupDim {
	var out []GroupDim
	p.dimLists(e, "group_by", "{care_setting: [inpatient, outpatient]}", func(key *yaml.Node, name string, values []string) {
		if name == PeriodDim {
			p.errorf(key.Line, joinPath("group_by", name), "the dimension name %q is reserved for the period of each cell (see period:); rename the dimension", PeriodDim)
			return
		}
		out = append(out, GroupDim{Name: name, Categories: values})
	})
	if len(out) > MaxGroupDims {
		p.errorf(e.line(), "group_by", "at most %d dimensions allowed (got %d)", MaxGroupDims, len(out))
	}
	return out
}

func (p *parser) window(e entry) *Window {
	m, ok := p.mapping(e.val, "window", "{from: 2026-01-01, to: 2026-12-31}")
	if !ok {
		return nil
	}
	fs, _ := p.fields(m, "window", windowFields)
	w := &Window{}
	good := true
	for _, name := range windowFields {
		path := "window." + name
		f, ok := fs[name]
		if !ok {
			p.errorf(e.line(), path, "is required; add %s: YYYY-MM-DD", name)
			good = false
			continue
		}
		s, ok := p.text(f.val, path)
		if !ok {
			good = false
			continue
		}
		day, ok := parseDate(s)
		if !ok {
			p.errorf(f.line(), path, "must be a calendar date YYYY-MM-DD (got %q)", s)
			good = false
			continue
		}
		if name == "from" {
			w.From, w.FromDay = s, day
		} else {
			w.To, w.ToDay = s, day
		}
	}
	if !good {
		return nil
	}
	if w.FromDay > w.ToDay {
		p.errorf(e.line(), "window", "from must not be after to (%s is after %s)", w.From, w.To)
		return nil
	}
	return w
}

func (p *parser) approvals(e entry) Approvals {
	const msg = "must be all, majority or a number of participants"
	d := deref(e.val)
	if d.Kind == yaml.ScalarNode {
		switch tag := d.ShortTag(); {
		case tag == "!!str" && d.Value == string(ApprovalsAll):
			return Approvals{Rule: ApprovalsAll}
		case tag == "!!str" && d.Value == string(ApprovalsMajority):
			return Approvals{Rule: ApprovalsMajority}
		case tag == "!!int":
			if n, ok := p.integer(e.val, "approvals"); ok {
				return Approvals{Rule: ApprovalsNumber, N: n}
			}
			return Approvals{Rule: ApprovalsAll}
		}
	}
	p.errorf(e.line(), "approvals", "%s (got %s)", msg, describe(e.val))
	return Approvals{Rule: ApprovalsAll}
}

func (p *parser) privacy(e entry) Privacy {
	pr := Privacy{MinCohort: DefaultMinCohort}
	m, ok := p.mapping(e.val, "privacy", "{min_cohort: 11, epsilon: 0, budget: 0}")
	if !ok {
		return pr
	}
	fs, _ := p.fields(m, "privacy", privacyFields)
	if f, ok := fs["min_cohort"]; ok {
		if v, ok := p.integer(f.val, "privacy.min_cohort"); ok {
			if v < 1 {
				p.errorf(f.line(), "privacy.min_cohort", "must be 1 or more (got %d)", v)
			}
			pr.MinCohort = v
		}
	}
	for _, name := range []string{"epsilon", "budget"} {
		f, ok := fs[name]
		if !ok {
			continue
		}
		v, ok := p.decimal(f.val, "privacy."+name)
		if !ok {
			continue
		}
		if v.Mantissa < 0 {
			p.errorf(f.line(), "privacy."+name, "must be 0 or more (got %s)", v)
			continue
		}
		if name == "epsilon" {
			pr.Epsilon = v
		} else {
			pr.Budget = v
		}
	}
	if p.bad["privacy"] {
		return pr
	}
	eps, budget := pr.Epsilon, pr.Budget
	switch {
	case eps.Mantissa > 0 && budget.Cmp(eps) < 0:
		line := e.line()
		if f, ok := fs["budget"]; ok {
			line = f.line()
		}
		p.errorf(line, "privacy.budget", "must be at least epsilon (%s): it is the total epsilon spent over all releases", eps)
	case eps.Mantissa == 0 && budget.Mantissa != 0:
		p.errorf(fs["budget"].line(), "privacy.budget", "must be 0 when epsilon is 0 (exact release, no differential privacy); set epsilon > 0 or remove budget")
	}
	return pr
}
