package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// MeasureDaysSupply is the measure of records read from MedicationDispense.
const MeasureDaysSupply = "dispense.days_supply"

// The FHIR R4 elements the reader uses.
type (
	reference struct {
		Reference string `json:"reference"`
		Display   string `json:"display"`
	}
	identifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	coding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display"`
	}
	codeableConcept struct {
		Coding []coding `json:"coding"`
		Text   string   `json:"text"`
	}
	quantity struct {
		Value json.Number `json:"value"`
		Unit  string      `json:"unit"`
		Code  string      `json:"code"`
	}

	questionnaireResponse struct {
		ID            string            `json:"id"`
		Status        string            `json:"status"`
		Questionnaire string            `json:"questionnaire"`
		Subject       *reference        `json:"subject"`
		Authored      string            `json:"authored"`
		Item          []qrItem          `json:"item"`
		Contained     []json.RawMessage `json:"contained"`
	}
	qrItem struct {
		LinkID string     `json:"linkId"`
		Answer []qrAnswer `json:"answer"`
		Item   []qrItem   `json:"item"`
	}
	qrAnswer struct {
		ValueBoolean  *bool       `json:"valueBoolean"`
		ValueDecimal  json.Number `json:"valueDecimal"`
		ValueInteger  json.Number `json:"valueInteger"`
		ValueDate     string      `json:"valueDate"`
		ValueDateTime string      `json:"valueDateTime"`
		ValueTime     string      `json:"valueTime"`
		ValueString   string      `json:"valueString"`
		ValueURI      string      `json:"valueUri"`
		ValueCoding   *coding     `json:"valueCoding"`
		ValueQuantity *quantity   `json:"valueQuantity"`
		Item          []qrItem    `json:"item"`
	}

	medicationDispense struct {
		ID                        string            `json:"id"`
		Status                    string            `json:"status"`
		Contained                 []json.RawMessage `json:"contained"`
		MedicationCodeableConcept *codeableConcept  `json:"medicationCodeableConcept"`
		MedicationReference       *reference        `json:"medicationReference"`
		Subject                   *reference        `json:"subject"`
		DaysSupply                *quantity         `json:"daysSupply"`
		WhenHandedOver            string            `json:"whenHandedOver"`
	}
)

// resCtx locates a resource for error messages.
type resCtx struct {
	pos    kpi.Position
	prefix string // JSON path of the resource: "" or "entry[2].resource"
}

func (c resCtx) fail(field, msg, hint string) error {
	return &kpi.InputError{Pos: c.pos, Field: joinField(c.prefix, field), Msg: msg, Hint: hint}
}

// decode unmarshals a resource, turning type mismatches into *kpi.InputError.
func (c resCtx) decode(raw []byte, v any) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return c.fail(te.Field, typeMsg(te), "")
	}
	return c.fail("", "cannot decode the resource: "+err.Error(), "")
}

// resource turns one resource into records (queued in r.pending).
func (r *FHIRReader) resource(raw []byte, pos kpi.Position, prefix string, depth int) error {
	c := resCtx{pos: pos, prefix: prefix}
	var head struct {
		ResourceType *string `json:"resourceType"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return c.fail("", "is "+jsonKind(te.Value)+", not a JSON object", "each resource must be a JSON object with a resourceType")
		}
		return c.fail("resourceType", "must be a string, like \"QuestionnaireResponse\"", "")
	}
	if head.ResourceType == nil || *head.ResourceType == "" {
		return c.fail("resourceType", "is missing", `every FHIR resource names its type, like "resourceType": "QuestionnaireResponse"`)
	}
	switch rt := *head.ResourceType; rt {
	case "QuestionnaireResponse":
		return r.questionnaireResponse(raw, c)
	case "MedicationDispense":
		return r.medicationDispense(raw, c)
	case "Bundle":
		if depth >= 4 {
			return c.fail("entry", "Bundles are nested too deeply", "")
		}
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := c.decode(raw, &b); err != nil {
			return err
		}
		for i, e := range b.Entry {
			if isNull(e.Resource) {
				r.count(r.skipped, "Bundle entry without resource", 1)
				continue
			}
			if err := r.resource(e.Resource, pos, joinField(prefix, fmt.Sprintf("entry[%d].resource", i)), depth+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return r.unknown(rt, c)
	}
}

// unknown skips or refuses a resource type the reader does not map.
func (r *FHIRReader) unknown(rt string, c resCtx) error {
	if r.opt.SkipUnknown {
		r.count(r.skipped, "resourceType "+rt, 1)
		return nil
	}
	return c.fail("resourceType", quote(rt)+" is not a resource type cxnet reads",
		"cxnet reads QuestionnaireResponse and MedicationDispense; pass --skip-unknown to skip the others")
}

// subject returns the subject identifier of a resource: its
// subject.reference, or for a reference to a contained resource ("#p1")
// that resource's first identifier as system|value.
func subject(c resCtx, ref *reference, contained []json.RawMessage) (string, error) {
	if ref == nil || strings.TrimSpace(ref.Reference) == "" {
		return "", c.fail("subject.reference", "is missing", "every resource needs a subject reference like Patient/123 to count the patient")
	}
	s := strings.TrimSpace(ref.Reference)
	if s[0] != '#' {
		return s, nil
	}
	raw := findContained(contained, s[1:])
	if raw == nil {
		return "", c.fail("subject.reference", "points to a contained resource that is not there", "refer to the patient like Patient/123")
	}
	var p struct {
		Identifier json.RawMessage `json:"identifier"`
	}
	_ = json.Unmarshal(raw, &p)
	var ids []identifier
	if json.Unmarshal(p.Identifier, &ids) != nil {
		var one identifier
		if json.Unmarshal(p.Identifier, &one) == nil {
			ids = []identifier{one}
		}
	}
	for _, id := range ids {
		if v := strings.TrimSpace(id.Value); v != "" {
			return strings.TrimSpace(id.System) + "|" + v, nil
		}
	}
	return "", c.fail("subject.reference", "points to a contained resource without an identifier",
		"refer to the patient like Patient/123, or give the contained patient an identifier")
}

// findContained returns the contained resource with the given id.
func findContained(contained []json.RawMessage, id string) json.RawMessage {
	for _, raw := range contained {
		var h struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &h) == nil && h.ID == id && id != "" {
			return raw
		}
	}
	return nil
}

// fullTime parses a FHIR dateTime that must name at least a day.
func (r *FHIRReader) fullTime(c resCtx, field, s, why string) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return time.Time{}, c.fail(field, "is missing", why)
	}
	t, terr := parseTime([]byte(s), &r.zones)
	if terr != nil {
		hint := timeHint
		if terr.partial {
			hint = "give at least the day, like 2026-03-14"
		}
		return time.Time{}, c.fail(field, quote(s)+" "+terr.why, hint)
	}
	return t, nil
}

// recordID checks a record id built from a resource.
func recordID(c resCtx, id string) error {
	if p := kpi.NameProblem(id); p != "" {
		return c.fail("id", "the record id "+quote(id)+" "+p, "")
	}
	return nil
}

func (r *FHIRReader) medicationDispense(raw []byte, c resCtx) error {
	var md medicationDispense
	if err := c.decode(raw, &md); err != nil {
		return err
	}
	switch md.Status {
	case "entered-in-error", "cancelled", "declined", "stopped":
		r.count(r.skipped, "MedicationDispense status "+md.Status, 1)
		return nil
	}
	if md.ID == "" {
		return c.fail("id", "is missing", "the record id is MedicationDispense/ and the resource id")
	}
	id := "MedicationDispense/" + md.ID
	if err := recordID(c, id); err != nil {
		return err
	}
	subj, err := subject(c, md.Subject, md.Contained)
	if err != nil {
		return err
	}
	if md.DaysSupply == nil || md.DaysSupply.Value == "" {
		return c.fail("daysSupply.value", "is missing: adherence (PDC) needs the days a dispense covers",
			"record daysSupply on every dispense, or mark dispenses that did not happen with a status such as cancelled")
	}
	days, err := kpi.ParseDecimal(md.DaysSupply.Value.String())
	if err != nil {
		return c.fail("daysSupply.value", quote(md.DaysSupply.Value.String())+" is not a number", "")
	}
	if days.Mantissa < 0 {
		return c.fail("daysSupply.value", days.String()+" is negative", "the days a dispense covers are 0 or more")
	}
	if u := strings.ToLower(md.DaysSupply.Code); u != "" && u != "d" && u != "day" && u != "days" {
		return c.fail("daysSupply.code", quote(md.DaysSupply.Code)+" is not days", "give daysSupply in days (code d)")
	}
	when, err := r.fullTime(c, "whenHandedOver", md.WhenHandedOver,
		"adherence (PDC) needs when the supply was handed over; mark dispenses that did not happen with a status such as cancelled")
	if err != nil {
		return err
	}
	drug, names, err := medication(c, &md)
	if err != nil {
		return err
	}
	dims := make([]kpi.Dim, 0, len(r.ix.dims)+2)
	for _, d := range r.ix.dims {
		if d.Name != "drug" && d.Name != "drug_class" {
			dims = append(dims, d)
		}
	}
	dims = append(dims, kpi.Dim{Name: "drug", Value: drug})
	if class, ok := r.ix.drugClass(names); ok {
		dims = append(dims, kpi.Dim{Name: "drug_class", Value: class})
	} else {
		r.count(r.notes, "MedicationDispense drug without class", 1)
	}
	sortDims(dims)
	r.pending = append(r.pending, kpi.Record{
		ID: id, Subject: subj, Measure: MeasureDaysSupply, Value: days, Time: when, Dims: dims, Pos: c.pos,
	})
	return nil
}

// medication returns the drug of a dispense (its first code, else its
// text) and every code and name it goes by, for the class lookup.
func medication(c resCtx, md *medicationDispense) (string, []string, error) {
	cc, field := md.MedicationCodeableConcept, "medicationCodeableConcept"
	var names []string
	if cc == nil && md.MedicationReference != nil {
		ref := md.MedicationReference
		field = "medicationReference"
		s := strings.TrimSpace(ref.Reference)
		if strings.HasPrefix(s, "#") {
			raw := findContained(md.Contained, s[1:])
			if raw == nil {
				return "", nil, c.fail("medicationReference.reference", quote(s)+" points to a contained Medication that is not there", "")
			}
			var m struct {
				Code *codeableConcept `json:"code"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return "", nil, c.fail("contained", "the Medication "+quote(s[1:])+" has a malformed code", "")
			}
			cc = m.Code
			field = "contained " + s + " code"
		}
		if d := strings.TrimSpace(ref.Display); d != "" {
			names = append(names, d)
		}
		if cc == nil && len(names) == 0 {
			return "", nil, c.fail("medicationReference", "cannot be resolved: only contained medications (#id) are read",
				"use medicationCodeableConcept, contain the Medication, or give the reference a display name")
		}
	}
	if cc == nil && len(names) == 0 {
		return "", nil, c.fail("medicationCodeableConcept", "is missing", "a dispense needs its medication for the drug dimension")
	}
	var drug string
	var codes []string
	if cc != nil {
		for _, cd := range cc.Coding {
			if v := strings.TrimSpace(cd.Code); v != "" {
				codes = append(codes, v)
			}
		}
		var texts []string
		if v := strings.TrimSpace(cc.Text); v != "" {
			texts = append(texts, v)
		}
		for _, cd := range cc.Coding {
			if v := strings.TrimSpace(cd.Display); v != "" {
				texts = append(texts, v)
			}
		}
		names = append(append(codes, texts...), names...)
	}
	if len(names) == 0 {
		return "", nil, c.fail(field, "has no code or text", "a dispense needs its medication for the drug dimension")
	}
	drug = names[0]
	return drug, names, nil
}

func (r *FHIRReader) questionnaireResponse(raw []byte, c resCtx) error {
	if r.m == nil {
		return c.fail("resourceType", "a QuestionnaireResponse needs a mapping from its items to measures",
			"pass --map MAP.yaml")
	}
	var qr questionnaireResponse
	if err := c.decode(raw, &qr); err != nil {
		return err
	}
	switch qr.Status {
	case "completed", "amended":
	case "":
		r.count(r.skipped, "QuestionnaireResponse without status", 1)
		return nil
	default:
		r.count(r.skipped, "QuestionnaireResponse status "+qr.Status, 1)
		return nil
	}
	if want := r.m.Questionnaire; want != "" && !sameCanonical(qr.Questionnaire, want) {
		r.count(r.skipped, "QuestionnaireResponse for another questionnaire", 1)
		return nil
	}
	if qr.ID == "" {
		return c.fail("id", "is missing", "record ids are the resource id, a slash and the item's linkId")
	}
	subj, err := subject(c, qr.Subject, qr.Contained)
	if err != nil {
		return err
	}
	authored, err := r.fullTime(c, "authored", qr.Authored, "the time of the records is when the response was authored")
	if err != nil {
		return err
	}
	found := map[string]foundAnswer{}
	collectAnswers(qr.Item, "item", r.ix.want, found)

	var dims []kpi.Dim
	dims = append(dims, r.ix.dims...)
	for _, di := range r.m.DimItems {
		if fa, ok := found[di.LinkID]; ok {
			if v := answerText(fa.answer); v != "" {
				dims = append(dims, kpi.Dim{Name: di.Dim, Value: v})
			}
		}
	}
	sortDims(dims)

	var recs []kpi.Record
	for i := range r.m.Items {
		item := &r.m.Items[i]
		fa, ok := found[item.LinkID]
		if !ok {
			continue
		}
		v, ok, err := r.answerValue(c, i, fa)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		id := qr.ID + "/" + item.LinkID
		if err := recordID(c, id); err != nil {
			return err
		}
		recs = append(recs, kpi.Record{
			ID: id, Subject: subj, Measure: item.Measure, Value: v, Time: authored, Dims: slices.Clone(dims), Pos: c.pos,
		})
	}
	if len(recs) == 0 {
		r.count(r.notes, "QuestionnaireResponse with no mapped item answered", 1)
	}
	r.pending = append(r.pending, recs...)
	return nil
}

// foundAnswer is the first answer to an item, and its JSON path.
type foundAnswer struct {
	answer *qrAnswer
	path   string
}

// collectAnswers finds the first answer of each wanted linkId, at any
// depth: nested items and items under answers.
func collectAnswers(items []qrItem, path string, want map[string]bool, found map[string]foundAnswer) {
	for i := range items {
		it := &items[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		if want[it.LinkID] && len(it.Answer) > 0 && hasValue(&it.Answer[0]) {
			if _, dup := found[it.LinkID]; !dup {
				found[it.LinkID] = foundAnswer{answer: &it.Answer[0], path: p + ".answer[0]"}
			}
		}
		collectAnswers(it.Item, p+".item", want, found)
		for j := range it.Answer {
			collectAnswers(it.Answer[j].Item, fmt.Sprintf("%s.answer[%d].item", p, j), want, found)
		}
	}
}

func hasValue(a *qrAnswer) bool {
	return a.ValueBoolean != nil || a.ValueDecimal != "" || a.ValueInteger != "" || a.ValueDate != "" ||
		a.ValueDateTime != "" || a.ValueTime != "" || a.ValueString != "" || a.ValueURI != "" ||
		a.ValueCoding != nil || a.ValueQuantity != nil
}

// answerValue turns the answer to mapped item i into a number. ok is false
// for an answer that cannot carry a value (a coding without code or
// display, a quantity without value).
func (r *FHIRReader) answerValue(c resCtx, i int, fa foundAnswer) (v kpi.Decimal, ok bool, err error) {
	item := &r.m.Items[i]
	a := fa.answer
	field, text := answerField(a)
	if len(item.Values) > 0 {
		for _, k := range answerKeys(a) {
			if v, ok := r.ix.lookup(i, k); ok {
				return v, true, nil
			}
		}
	}
	if num := answerNumber(a); num != "" {
		d, err := kpi.ParseDecimal(num)
		if err == nil {
			return d, true, nil
		}
		if len(item.Values) == 0 || a.ValueString == "" && a.ValueCoding == nil {
			return kpi.Decimal{}, false, c.fail(joinField(fa.path, field),
				fmt.Sprintf("item %s: the answer %s is out of range", quote(item.LinkID), quote(num)),
				"numbers have at most 18 significant digits")
		}
	}
	if text == "" {
		return kpi.Decimal{}, false, nil
	}
	if len(item.Values) > 0 {
		return kpi.Decimal{}, false, c.fail(joinField(fa.path, field),
			fmt.Sprintf("item %s: the answer %s is not one of the mapped values %s", quote(item.LinkID), quote(text), allowed(item.Values)),
			"add it to the item's values in "+mapName(r.m))
	}
	return kpi.Decimal{}, false, c.fail(joinField(fa.path, field),
		fmt.Sprintf("item %s: the answer %s is not a number", quote(item.LinkID), quote(text)),
		fmt.Sprintf(`map answers to numbers with values: {%s: 1} for this item in %s`, quote(text), mapName(r.m)))
}

// answerField names the value[x] of an answer and gives its text.
func answerField(a *qrAnswer) (string, string) {
	switch {
	case a.ValueInteger != "":
		return "valueInteger", a.ValueInteger.String()
	case a.ValueDecimal != "":
		return "valueDecimal", a.ValueDecimal.String()
	case a.ValueQuantity != nil:
		return "valueQuantity.value", a.ValueQuantity.Value.String()
	case a.ValueCoding != nil:
		if a.ValueCoding.Code != "" {
			return "valueCoding.code", a.ValueCoding.Code
		}
		return "valueCoding.display", a.ValueCoding.Display
	case a.ValueString != "":
		return "valueString", a.ValueString
	case a.ValueBoolean != nil:
		return "valueBoolean", fmt.Sprint(*a.ValueBoolean)
	case a.ValueDate != "":
		return "valueDate", a.ValueDate
	case a.ValueDateTime != "":
		return "valueDateTime", a.ValueDateTime
	case a.ValueTime != "":
		return "valueTime", a.ValueTime
	case a.ValueURI != "":
		return "valueUri", a.ValueURI
	}
	return "", ""
}

// answerKeys are the texts looked up in an item's values, in order.
func answerKeys(a *qrAnswer) []string {
	var keys []string
	if a.ValueString != "" {
		keys = append(keys, a.ValueString)
	}
	if a.ValueCoding != nil {
		if a.ValueCoding.Code != "" {
			keys = append(keys, a.ValueCoding.Code)
		}
		if a.ValueCoding.Display != "" {
			keys = append(keys, a.ValueCoding.Display)
		}
	}
	if a.ValueBoolean != nil {
		keys = append(keys, fmt.Sprint(*a.ValueBoolean))
	}
	if a.ValueInteger != "" {
		keys = append(keys, a.ValueInteger.String())
	}
	return keys
}

// answerNumber is the text of a numeric answer, or "".
func answerNumber(a *qrAnswer) string {
	switch {
	case a.ValueInteger != "":
		return a.ValueInteger.String()
	case a.ValueDecimal != "":
		return a.ValueDecimal.String()
	case a.ValueQuantity != nil:
		return a.ValueQuantity.Value.String()
	case a.ValueCoding != nil && a.ValueCoding.Code != "":
		if _, err := kpi.ParseDecimal(a.ValueCoding.Code); err == nil {
			return a.ValueCoding.Code
		}
	case a.ValueString != "":
		if _, err := kpi.ParseDecimal(strings.TrimSpace(a.ValueString)); err == nil {
			return strings.TrimSpace(a.ValueString)
		}
	}
	return ""
}

// answerText is an answer as a dimension value.
func answerText(a *qrAnswer) string {
	switch {
	case a.ValueString != "":
		return strings.TrimSpace(a.ValueString)
	case a.ValueCoding != nil:
		if v := strings.TrimSpace(a.ValueCoding.Code); v != "" {
			return v
		}
		return strings.TrimSpace(a.ValueCoding.Display)
	}
	_, text := answerField(a)
	return strings.TrimSpace(text)
}

func allowed(values map[string]kpi.Decimal) string {
	keys := slices.Sorted(maps.Keys(values))
	var b strings.Builder
	for i, k := range keys {
		if i == 10 {
			fmt.Fprintf(&b, ", … (%d more)", len(keys)-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(k))
	}
	return "(" + b.String() + ")"
}

func mapName(m *Mapping) string {
	if m.File != "" {
		return m.File
	}
	return "the mapping"
}

// sameCanonical compares a response's questionnaire with the wanted one,
// ignoring the response's "|version" unless want names a version.
func sameCanonical(got, want string) bool {
	got = strings.TrimSpace(got)
	if got == want {
		return true
	}
	if !strings.Contains(want, "|") {
		if i := strings.IndexByte(got, '|'); i >= 0 {
			return got[:i] == want
		}
	}
	return false
}

func sortDims(dims []kpi.Dim) {
	slices.SortFunc(dims, func(a, b kpi.Dim) int { return strings.Compare(a.Name, b.Name) })
}

// typeMsg explains a JSON type mismatch.
func typeMsg(te *json.UnmarshalTypeError) string {
	return "is " + jsonKind(te.Value) + ", expected " + goKind(te.Type)
}

func jsonKind(v string) string {
	switch {
	case v == "object":
		return "an object"
	case v == "array":
		return "a list"
	case v == "string":
		return "a string"
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number"):
		return "a number"
	}
	return v
}

func goKind(t reflect.Type) string {
	if t == nil {
		return "something else"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.Number]() {
		return "a number"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}
