package report

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	ironlbv1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/controller/request"
	"github.com/ironlb/ironlb/internal/repo"
)

// allocatorReasons reads every constant of type Reason from the allocator's source, so a
// reason added to the controller without an explanation here fails this test.
func allocatorReasons(t *testing.T) []string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "controller", "allocator", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	contract := contractStrings(t, filepath.Join(root, "api", "v1beta1", "contract.go"))
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || vs.Type == nil {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				return true
			}
			for _, v := range vs.Values {
				switch v := v.(type) {
				case *ast.BasicLit:
					s, _ := strconv.Unquote(v.Value)
					out = append(out, s)
				case *ast.SelectorExpr: // ironlbv1.ReasonX: the contract holds the string
					if s, ok := contract[v.Sel.Name]; ok {
						out = append(out, s)
					}
				}
			}
			return true
		})
	}
	return out
}

// contractStrings maps each string constant of the API's contract file to its value.
func contractStrings(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					out[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
		return true
	})
	return out
}

func TestEveryPendingReasonIsExplained(t *testing.T) {
	reasons := append(allocatorReasons(t), request.InvalidAnnotation, ironlbv1.ReasonNoNodeAddresses)
	if len(reasons) < 7 {
		t.Fatalf("found only %v in the allocator's source", reasons)
	}
	for _, r := range reasons {
		e, ok := Reasons[r]
		if !ok {
			t.Errorf("the controller's reason %s has no explanation in Reasons", r)
			continue
		}
		if e.Meaning == "" || e.Fix == "" {
			t.Errorf("reason %s: meaning and fix must both be written", r)
		}
	}
	if len(Reasons) != len(reasons) {
		t.Errorf("Reasons explains %d reasons, the controller has %d: %v", len(Reasons), len(reasons), reasons)
	}
	if Explain("SomethingNew") != unknownReason {
		t.Error("an unknown reason must get the generic explanation")
	}
}
