package migrate

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fields walks one MetalLB spec (a map decoded from YAML or JSON). Every getter marks its
// key as read; leftovers reports each key no converter read as a loss, so a field added
// to MetalLB later, or one this tool does not know, is never dropped silently.
type fields struct {
	obj    string // the object, as the report names it
	path   string // "spec" or a path inside the legacy configuration
	m      map[string]any
	read   map[string]bool
	report *Report
}

func newFields(r *Report, obj, path string, m map[string]any) *fields {
	return &fields{obj: obj, path: path, m: m, read: map[string]bool{}, report: r}
}

func (f *fields) field(key string) string { return f.path + "." + key }

// get returns the raw value and marks the key read; a null value counts as absent.
func (f *fields) get(key string) (any, bool) {
	v, ok := f.m[key]
	f.read[key] = true
	return v, ok && v != nil
}

// wrongType records a value of the wrong type as lost.
func (f *fields) wrongType(key string, v any, want string) {
	f.report.lose(f.obj, f.field(key), fmt.Sprintf("%v is not %s; not converted", v, want))
}

func (f *fields) str(key string) (string, bool) {
	v, ok := f.get(key)
	if !ok {
		return "", false
	}
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return s.String(), true
	case int64, float64, int:
		return fmt.Sprint(s), true
	}
	f.wrongType(key, v, "a string")
	return "", false
}

func (f *fields) boolean(key string) (bool, bool) {
	v, ok := f.get(key)
	if !ok {
		return false, false
	}
	if b, isBool := v.(bool); isBool {
		return b, true
	}
	if s, isStr := v.(string); isStr {
		if b, err := strconv.ParseBool(s); err == nil {
			return b, true
		}
	}
	f.wrongType(key, v, "true or false")
	return false, false
}

// integer reads a whole number in [lo, hi].
func (f *fields) integer(key string, lo, hi int64) (int64, bool) {
	v, ok := f.get(key)
	if !ok {
		return 0, false
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case float64:
		if x != math.Trunc(x) {
			f.wrongType(key, v, "a whole number")
			return 0, false
		}
		n = int64(x)
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			f.wrongType(key, v, "a whole number")
			return 0, false
		}
		n = i
	case string:
		i, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			f.wrongType(key, v, "a whole number")
			return 0, false
		}
		n = i
	default:
		f.wrongType(key, v, "a whole number")
		return 0, false
	}
	if n < lo || n > hi {
		f.report.lose(f.obj, f.field(key), fmt.Sprintf("%d is outside ironlb's range %d-%d; not converted (ironlb's default applies)", n, lo, hi))
		return 0, false
	}
	return n, true
}

func (f *fields) int32p(key string, lo, hi int64) *int32 {
	n, ok := f.integer(key, lo, hi)
	if !ok {
		return nil
	}
	v := int32(n)
	return &v
}

// duration reads a Go duration ("90s", "1m30s") or, as old MetalLB configurations wrote
// hold times, a number of seconds.
func (f *fields) duration(key string) (time.Duration, bool) {
	v, ok := f.get(key)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case string:
		if d, err := time.ParseDuration(x); err == nil {
			return d, true
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return time.Duration(n) * time.Second, true
		}
	case int64:
		return time.Duration(x) * time.Second, true
	case float64:
		return time.Duration(x * float64(time.Second)), true
	}
	f.wrongType(key, v, "a duration")
	return 0, false
}

func (f *fields) strings(key string) []string { return listOf[string](f, key, "a string") }

// maps reads a list of objects.
func (f *fields) maps(key string) []map[string]any {
	return listOf[map[string]any](f, key, "an object")
}

// listOf reads a list whose items are all of type T (what names it in the report): an
// item of another type is reported as lost and left out, the others are kept.
func listOf[T any](f *fields, key, what string) []T {
	v, ok := f.get(key)
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		f.wrongType(key, v, "a list")
		return nil
	}
	var out []T
	for i, item := range list {
		t, isT := item.(T)
		if !isT {
			f.report.lose(f.obj, fmt.Sprintf("%s[%d]", f.field(key), i), fmt.Sprintf("%v is not %s; not converted", item, what))
			continue
		}
		out = append(out, t)
	}
	return out
}

// selectors reads a list of label selectors. MetalLB's CRDs write them as Kubernetes
// selectors (matchLabels, matchExpressions); its legacy configuration as match-labels and
// match-expressions.
func (f *fields) selectors(key string) []metav1.LabelSelector {
	var out []metav1.LabelSelector
	for i, m := range f.maps(key) {
		sel := newFields(f.report, f.obj, fmt.Sprintf("%s[%d]", f.field(key), i), m)
		out = append(out, sel.selector())
	}
	return out
}

func (f *fields) selector() metav1.LabelSelector {
	var s metav1.LabelSelector
	for _, key := range []string{"matchLabels", "match-labels"} {
		if v, ok := f.get(key); ok {
			labels, isMap := v.(map[string]any)
			if !isMap {
				f.wrongType(key, v, "a map of labels")
				continue
			}
			if s.MatchLabels == nil {
				s.MatchLabels = map[string]string{}
			}
			for k, val := range labels {
				s.MatchLabels[k] = fmt.Sprint(val)
			}
		}
	}
	for _, key := range []string{"matchExpressions", "match-expressions"} {
		for i, m := range f.maps(key) {
			e := newFields(f.report, f.obj, fmt.Sprintf("%s[%d]", f.field(key), i), m)
			k, _ := e.str("key")
			op, _ := e.str("operator")
			s.MatchExpressions = append(s.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: k, Operator: metav1.LabelSelectorOperator(op), Values: e.strings("values")})
			e.leftovers()
		}
	}
	f.leftovers()
	return s
}

// ignore marks keys as read without converting them, with a note saying why.
func (f *fields) ignore(key, why string) {
	if v, ok := f.get(key); ok {
		f.report.note(f.obj, f.field(key), fmt.Sprintf("%v: %s", brief(v), why))
	}
}

// leftovers reports every key nobody read.
func (f *fields) leftovers() {
	var keys []string
	for k := range f.m {
		if !f.read[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		f.report.lose(f.obj, f.field(k), fmt.Sprintf("%s: ironlb has no such setting; not converted", brief(f.m[k])))
	}
}

// brief renders a value for the report, shortened.
func brief(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(data)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ")
}
