package migrate

import (
	"io"
	"strings"

	"github.com/ironlb/ironlb/kubectl-ironlb/textout"
)

// Severity says how a MetalLB setting fared in the conversion.
type Severity string

const (
	// Lost: the setting has no equivalent in ironlb and its effect is gone.
	Lost Severity = "LOST"
	// Changed: written differently, with the same meaning, or a close one the note explains.
	Changed Severity = "changed"
	// Note: nothing to do, said so the reader knows it was looked at.
	Note Severity = "note"
)

// Finding is one line of the report: an object, a field in it, and what happened.
type Finding struct {
	Object   string   `json:"object"`
	Field    string   `json:"field,omitempty"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// Report collects the findings of one conversion, in the order they were made.
type Report struct {
	Findings []Finding `json:"findings"`
	// Converted maps each MetalLB object to the ironlb objects written for it.
	Converted []Mapping `json:"converted"`
}

// Mapping says which ironlb objects one MetalLB object became.
type Mapping struct {
	From string   `json:"from"`
	To   []string `json:"to"`
}

func (r *Report) add(sev Severity, obj, field, msg string) {
	r.Findings = append(r.Findings, Finding{Object: obj, Field: field, Severity: sev, Message: msg})
}

func (r *Report) lose(obj, field, msg string)   { r.add(Lost, obj, field, msg) }
func (r *Report) change(obj, field, msg string) { r.add(Changed, obj, field, msg) }
func (r *Report) note(obj, field, msg string)   { r.add(Note, obj, field, msg) }

func (r *Report) mapped(from string, to ...string) {
	r.Converted = append(r.Converted, Mapping{From: from, To: to})
}

// Losses counts the findings whose effect is gone.
func (r *Report) Losses() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Lost {
			n++
		}
	}
	return n
}

// Print writes the report for a person: per MetalLB object what it became, then each
// finding under its object.
func (r *Report) Print(out io.Writer) error {
	w := textout.New(out)
	byObject := map[string][]Finding{}
	var order []string
	seen := map[string]bool{}
	remember := func(o string) {
		if !seen[o] {
			seen[o] = true
			order = append(order, o)
		}
	}
	to := map[string][]string{}
	for _, m := range r.Converted {
		remember(m.From)
		to[m.From] = append(to[m.From], m.To...)
	}
	for _, f := range r.Findings {
		remember(f.Object)
		byObject[f.Object] = append(byObject[f.Object], f)
	}
	for _, o := range order {
		switch targets := to[o]; {
		case len(targets) > 0:
			w.Printf("%s -> %s\n", o, strings.Join(targets, ", "))
		default:
			w.Printf("%s -> (no object)\n", o)
		}
		for _, f := range byObject[o] {
			field := ""
			if f.Field != "" {
				field = f.Field + ": "
			}
			w.Printf("  %-7s %s%s\n", f.Severity, field, f.Message)
		}
	}
	return w.Err()
}
