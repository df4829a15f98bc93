// Package status is the one way ironlb writes the status of an object: a Writer for
// status that one program computes from an object it has read (patch or update), and an
// Applier for the part of a status that several writers share by server-side apply. Both
// skip the request when it would change nothing, so a resync of thousands of objects
// costs no API write, and both treat a deleted object as written (its status went with it).
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Strategy names how a Writer sends a changed status.
type Strategy int

const (
	// MergePatch sends a JSON merge patch of what changed. Lists are replaced whole, so
	// it suits objects whose status lists only this program writes (the ironlb CRDs).
	MergePatch Strategy = iota
	// StrategicMergePatch sends a strategic merge patch: lists of built-in types merge by
	// key (a Service's conditions by type), so the conditions other programs write on
	// the same object are kept.
	StrategicMergePatch
	// Update sends the whole object with the resourceVersion it was read at: a stale copy
	// is refused with a Conflict (and the reconcile retried), and it costs the API server
	// less than a patch. For a Service, metadata sent to /status is kept too.
	Update
)

func (s Strategy) String() string {
	switch s {
	case MergePatch:
		return "merge patch"
	case StrategicMergePatch:
		return "strategic merge patch"
	case Update:
		return "update"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Writer writes the status subresource of objects it is given, with one Strategy.
type Writer struct {
	Client   client.Client
	Strategy Strategy
	// OptimisticLock makes a patch carry the resourceVersion it was computed from, so it
	// is refused (Conflict) when the object changed meanwhile. Update always has it.
	OptimisticLock bool
	// FieldManager names the writer in the object's managedFields; empty leaves it to the
	// API server, which takes the client's user agent.
	FieldManager string
}

// Write runs mutate on obj and, when that changed obj (semantic equality, so a
// re-serialised quantity or time is no change), writes obj's status. mutate decides what
// counts as a change by leaving obj alone when nothing should be written. It reports
// whether a request was sent and accepted; a NotFound answer is (false, nil).
func (w Writer) Write(ctx context.Context, obj client.Object, mutate func()) (bool, error) {
	before := obj.DeepCopyObject().(client.Object)
	mutate()
	if equality.Semantic.DeepEqual(before, obj) {
		return false, nil
	}
	var owner []client.SubResourceUpdateOption
	var patchOwner []client.SubResourcePatchOption
	if w.FieldManager != "" {
		owner = append(owner, client.FieldOwner(w.FieldManager))
		patchOwner = append(patchOwner, client.FieldOwner(w.FieldManager))
	}
	var opts []client.MergeFromOption
	if w.OptimisticLock {
		opts = append(opts, client.MergeFromWithOptimisticLock{})
	}
	var err error
	switch w.Strategy {
	case Update:
		err = w.Client.Status().Update(ctx, obj, owner...)
	case StrategicMergePatch:
		err = w.Client.Status().Patch(ctx, obj, client.StrategicMergeFrom(before, opts...), patchOwner...)
	default:
		err = w.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, opts...), patchOwner...)
	}
	if err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return true, nil
}

// SetCondition sets c in conds when its status, reason or message differs from the
// condition of the same type there, and reports whether it did. A new observedGeneration
// alone is no change: writers that run on every node would otherwise all write on each
// edit of the object's spec. The transition time is kept while the status stays.
func SetCondition(conds *[]metav1.Condition, c metav1.Condition) bool {
	if SameCondition(conds, c) {
		return false
	}
	meta.SetStatusCondition(conds, c)
	return true
}

// SameCondition reports whether conds holds a condition of c's type with c's status,
// reason and message.
func SameCondition(conds *[]metav1.Condition, c metav1.Condition) bool {
	for _, prev := range *conds {
		if prev.Type == c.Type {
			return prev.Status == c.Status && prev.Reason == c.Reason && prev.Message == c.Message
		}
	}
	return false
}

// Applier server-side-applies parts of objects' status under one field manager, forcing
// ownership of the fields it sends, and remembers what it applied last to each object so
// that an unchanged part is not sent again. Several programs (one speaker per node) can so
// own disjoint entries of one list without reading or overwriting each other's.
type Applier struct {
	client       client.Client
	fieldManager string

	mu   sync.Mutex
	last map[applyKey]string // body last accepted per object
}

type applyKey struct {
	gvk schema.GroupVersionKind
	key types.NamespacedName
}

// NewApplier returns an Applier writing as fieldManager.
func NewApplier(c client.Client, fieldManager string) *Applier {
	return &Applier{client: c, fieldManager: fieldManager, last: map[applyKey]string{}}
}

// FieldManager is the name the Applier writes as.
func (a *Applier) FieldManager() string { return a.fieldManager }

// Apply makes status (a value that marshals to the status fields this manager owns) this
// manager's part of obj's status; an empty status gives up every field it owned. obj needs
// only its name (and namespace): its kind comes from the client's scheme. It reports
// whether a request was sent and accepted; a NotFound answer is (false, nil).
func (a *Applier) Apply(ctx context.Context, obj client.Object, status any) (bool, error) {
	gvk, err := apiutil.GVKForObject(obj, a.client.Scheme())
	if err != nil {
		return false, err
	}
	metadata := map[string]any{"name": obj.GetName()}
	if obj.GetNamespace() != "" {
		metadata["namespace"] = obj.GetNamespace()
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind, "metadata": metadata, "status": status,
	})
	if err != nil {
		return false, err
	}
	k := applyKey{gvk, client.ObjectKeyFromObject(obj)}
	a.mu.Lock()
	same := a.last[k] == string(body)
	a.mu.Unlock()
	if same {
		return false, nil
	}
	if err := a.client.Status().Patch(ctx, obj, client.RawPatch(types.ApplyPatchType, body),
		client.FieldOwner(a.fieldManager), client.ForceOwnership); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	a.mu.Lock()
	a.last[k] = string(body)
	a.mu.Unlock()
	return true, nil
}
