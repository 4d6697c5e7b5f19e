package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cxnet/cxnet/kpi"
)

// Mapping says how FHIR resources become records (the --map file):
//
//	questionnaire: http://example.org/Questionnaire/nps   # optional filter
//	items:
//	  - link_id: "q1"          # item.linkId, at any depth
//	    measure: nps
//	  - link_id: "3.1"
//	    measure: smoker
//	    values: {"No": 0, "Yes": 1}
//	dim_items:                 # dimensions from other items' answers
//	  sex: "2.1"
//	dims:                      # constant dimensions for every record
//	  care_setting: outpatient
//	drug_classes:              # MedicationDispense: code or text -> class
//	  LISINOPRIL: RASA
type Mapping struct {
	File string // as given to ParseMapping, for messages

	// Questionnaire, when set, keeps only QuestionnaireResponses whose
	// questionnaire is this canonical URL (a "|version" suffix on the
	// response is ignored unless this has one too).
	Questionnaire string
	Items         []MappedItem
	DimItems      []DimItem         // sorted by Dim
	Dims          []kpi.Dim         // constant dimensions, sorted by Name
	DrugClasses   map[string]string // medication code or text -> class
}

// MappedItem turns the answers to one questionnaire item into a measure.
type MappedItem struct {
	LinkID  string
	Measure string
	// Values maps string, coded and boolean answers to numbers. Without
	// it, answers must be numbers (valueInteger, valueDecimal,
	// valueQuantity, or a numeric valueCoding.code or valueString).
	Values map[string]kpi.Decimal
}

// DimItem takes a dimension from the answer to an item.
type DimItem struct {
	Dim    string
	LinkID string
}

const mappingHint = "see the example in docs: questionnaire, items (link_id, measure, values), dim_items, dims, drug_classes"

// ParseMapping reads and checks a mapping file. file names it in errors,
// which are *kpi.InputError with the line and a path like items[1].measure (list
// indexes count from 0).
func ParseMapping(data []byte, file string) (*Mapping, error) {
	p := mappingParser{file: file}
	m, err := p.parse(data)
	if err != nil {
		return nil, err
	}
	return m, nil
}

type mappingParser struct {
	file string
}

func (p *mappingParser) errAt(n *yaml.Node, field, msg, hint string) error {
	line := int64(1)
	if n != nil && n.Line > 0 {
		line = int64(n.Line)
	}
	return &kpi.InputError{Pos: kpi.Position{File: p.file, Line: line}, Field: field, Msg: msg, Hint: hint}
}

func (p *mappingParser) parse(data []byte) (*Mapping, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, p.yamlErr(err)
	}
	if len(doc.Content) == 0 {
		return nil, p.errAt(nil, "", "the mapping is empty", mappingHint)
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && (root.Tag == "!!null" || root.Value == "") {
		return nil, p.errAt(root, "", "the mapping is empty", mappingHint)
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errAt(root, "", "the mapping must be a YAML map of keys to values, not "+kindName(root), mappingHint)
	}
	m := &Mapping{File: p.file}
	var dimItemsNode *yaml.Node
	err := p.eachKey(root, "", func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "questionnaire":
			m.Questionnaire, err = p.scalar(v, key, false)
		case "items":
			m.Items, err = p.items(v)
		case "dim_items":
			dimItemsNode = k
			var pairs [][2]string
			pairs, err = p.stringMap(v, key)
			for _, kv := range pairs {
				m.DimItems = append(m.DimItems, DimItem{Dim: kv[0], LinkID: kv[1]})
			}
		case "dims":
			var pairs [][2]string
			pairs, err = p.stringMap(v, key)
			for _, kv := range pairs {
				m.Dims = append(m.Dims, kpi.Dim{Name: kv[0], Value: kv[1]})
			}
		case "drug_classes":
			var pairs [][2]string
			pairs, err = p.stringMap(v, key)
			m.DrugClasses = make(map[string]string, len(pairs))
			for _, kv := range pairs {
				m.DrugClasses[kv[0]] = kv[1]
			}
		default:
			return p.errAt(k, key, "unknown key", "the keys are questionnaire, items, dim_items, dims and drug_classes")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(m.Items) == 0 && len(m.DrugClasses) == 0 && len(m.Dims) == 0 && len(m.DimItems) == 0 {
		return nil, p.errAt(root, "", "the mapping maps nothing", "list questionnaire items under items: or medications under drug_classes:")
	}
	for _, d := range m.DimItems {
		for _, c := range m.Dims {
			if c.Name == d.Dim {
				return nil, p.errAt(dimItemsNode, "dim_items."+d.Dim, "dimension is also set in dims", "name it only once")
			}
		}
	}
	slices.SortFunc(m.DimItems, func(a, b DimItem) int { return strings.Compare(a.Dim, b.Dim) })
	slices.SortFunc(m.Dims, func(a, b kpi.Dim) int { return strings.Compare(a.Name, b.Name) })
	return m, nil
}

// items reads the items list.
func (p *mappingParser) items(n *yaml.Node) ([]MappedItem, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, "items", "must be a list, not "+kindName(n), `write each item as "- link_id: ..." on its own line`)
	}
	var out []MappedItem
	firstLine := map[string]int{}
	for i, in := range n.Content {
		in = deref(in)
		path := fmt.Sprintf("items[%d]", i)
		if in.Kind != yaml.MappingNode {
			return nil, p.errAt(in, path, "must be a map with link_id and measure, not "+kindName(in), "")
		}
		var it MappedItem
		err := p.eachKey(in, path, func(key string, k, v *yaml.Node) error {
			var err error
			switch key {
			case "link_id":
				it.LinkID, err = p.scalar(v, path+".link_id", true)
			case "measure":
				it.Measure, err = p.scalar(v, path+".measure", true)
				if err == nil {
					if prob := kpi.NameProblem(it.Measure); prob != "" {
						err = p.errAt(v, path+".measure", quote(it.Measure)+" "+prob, "use a short printable name like nps")
					}
				}
			case "values":
				it.Values, err = p.values(v, path+".values")
			default:
				err = p.errAt(k, path+"."+key, "unknown key", "an item has link_id, measure and optionally values")
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if it.LinkID == "" {
			return nil, p.errAt(in, path+".link_id", "is missing", "give the linkId of the questionnaire item")
		}
		if it.Measure == "" {
			return nil, p.errAt(in, path+".measure", "is missing", "name the measure the item's answers become, like nps")
		}
		if l, ok := firstLine[it.LinkID]; ok {
			return nil, p.errAt(in, path+".link_id", fmt.Sprintf("%s is mapped twice (first on line %d)", quote(it.LinkID), l), "map each linkId once")
		}
		firstLine[it.LinkID] = in.Line
		out = append(out, it)
	}
	return out, nil
}

// values reads an item's answer -> number map.
func (p *mappingParser) values(n *yaml.Node, path string) (map[string]kpi.Decimal, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, path, "must be a map from answers to numbers, not "+kindName(n), `like values: {"No": 0, "Yes": 1}`)
	}
	out := make(map[string]kpi.Decimal, len(n.Content)/2)
	err := p.eachKey(n, path, func(key string, k, v *yaml.Node) error {
		v = deref(v)
		field := path + "." + key
		if v.Kind != yaml.ScalarNode {
			return p.errAt(v, field, "must be a number, not "+kindName(v), `like values: {"No": 0, "Yes": 1}`)
		}
		d, err := kpi.ParseDecimal(v.Value)
		if err != nil {
			return p.errAt(v, field, quote(v.Value)+" is not a number", `answers map to numbers, like values: {"No": 0, "Yes": 1}`)
		}
		out[key] = d
		return nil
	})
	return out, err
}

// stringMap reads a map of non-empty strings, in file order.
func (p *mappingParser) stringMap(n *yaml.Node, path string) ([][2]string, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, path, "must be a map of names to values, not "+kindName(n), "")
	}
	var out [][2]string
	err := p.eachKey(n, path, func(key string, k, v *yaml.Node) error {
		s, err := p.scalar(v, path+"."+key, true)
		if err != nil {
			return err
		}
		out = append(out, [2]string{key, s})
		return nil
	})
	return out, err
}

// eachKey calls f for each key of a map, failing on empty, non-scalar and
// duplicate keys.
func (p *mappingParser) eachKey(n *yaml.Node, path string, f func(key string, k, v *yaml.Node) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		field := path
		if k.Kind != yaml.ScalarNode {
			return p.errAt(k, field, "a key must be a plain name, not "+kindName(k), "")
		}
		key := strings.TrimSpace(k.Value)
		if key == "" {
			return p.errAt(k, field, "a key is empty", "")
		}
		if field != "" {
			field += "."
		}
		field += key
		if key == "<<" {
			return p.errAt(k, field, "YAML merge keys are not supported", "write the keys out")
		}
		if l, ok := seen[key]; ok {
			return p.errAt(k, field, fmt.Sprintf("appears twice (first on line %d)", l), "give each key once")
		}
		seen[key] = k.Line
		if err := f(key, k, v); err != nil {
			return err
		}
	}
	return nil
}

// scalar reads a string value; required values must not be empty.
func (p *mappingParser) scalar(n *yaml.Node, field string, required bool) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return "", p.errAt(n, field, "must be a single value, not "+kindName(n), "")
	}
	s := strings.TrimSpace(n.Value)
	if n.Tag == "!!null" {
		s = ""
	}
	if s == "" && required {
		return "", p.errAt(n, field, "is empty", "")
	}
	return s, nil
}

// yamlErr turns a YAML syntax error into an *kpi.InputError with its line.
func (p *mappingParser) yamlErr(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := int64(1)
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, perr := strconv.ParseInt(rest[:i], 10, 64); perr == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	return &kpi.InputError{Pos: kpi.Position{File: p.file, Line: line}, Msg: "not valid YAML: " + msg,
		Hint: "check the indentation and quote values that contain a colon", Err: err}
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "an alias"
}
