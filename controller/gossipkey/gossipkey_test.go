package gossipkey_test

import (
	"context"
	"encoding/base64"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/controller/gossipkey"
	"github.com/ironlb/ironlb/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// TestEnsureCreatesMissing: a missing Secret is created with 32 random bytes, and a second
// call (another replica, a restart) leaves it exactly as it is.
func TestEnsureCreatesMissing(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "keys-new", nil)
	ctx := context.Background()
	created, err := gossipkey.Ensure(ctx, env.Client, "keys-new", "ironlb-memberlist")
	if err != nil || !created {
		t.Fatalf("Ensure on a missing Secret: created %v, err %v", created, err)
	}
	first := get(t, "keys-new", "ironlb-memberlist")
	raw, err := base64.StdEncoding.DecodeString(string(first.Data[gossipkey.DataKey]))
	if err != nil || len(raw) != gossipkey.RandomBytes {
		t.Fatalf("key %q: %d bytes after base64 (%v), want %d", first.Data[gossipkey.DataKey], len(raw), err, gossipkey.RandomBytes)
	}
	created, err = gossipkey.Ensure(ctx, env.Client, "keys-new", "ironlb-memberlist")
	if err != nil || created {
		t.Fatalf("Ensure on an existing Secret: created %v, err %v", created, err)
	}
	if again := get(t, "keys-new", "ironlb-memberlist"); again.ResourceVersion != first.ResourceVersion {
		t.Errorf("a second Ensure changed the Secret: %+v", again)
	}
}

// TestEnsureLeavesExisting: a Secret an administrator made (any content, any labels) is
// never modified.
func TestEnsureLeavesExisting(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "keys-own", nil)
	ctx := context.Background()
	mine := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "keys-own", Name: "ironlb-memberlist", Labels: map[string]string{"owner": "me"}},
		Data:       map[string][]byte{gossipkey.DataKey: []byte("my own key, at least 16 bytes")},
	}
	if err := env.Client.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	created, err := gossipkey.Ensure(ctx, env.Client, "keys-own", "ironlb-memberlist")
	if err != nil || created {
		t.Fatalf("Ensure on an existing Secret: created %v, err %v", created, err)
	}
	got := get(t, "keys-own", "ironlb-memberlist")
	if got.ResourceVersion != mine.ResourceVersion || string(got.Data[gossipkey.DataKey]) != "my own key, at least 16 bytes" {
		t.Errorf("Ensure modified an existing Secret: %+v", got)
	}
}

// TestNewKeyIsRandom: two keys differ (crypto/rand, not a fixed or time-seeded value).
func TestNewKeyIsRandom(t *testing.T) {
	a, err := gossipkey.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := gossipkey.NewKey()
	if string(a) == string(b) {
		t.Errorf("two keys are equal: %s", a)
	}
}

func get(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}
