package app_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/controller/app"
	"github.com/ironlb/ironlb/controller/gossipkey"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestControllerCreatesMemberlistSecret: with --memberlist-secret-name the controller
// creates the missing Secret at start-up, and a restarted controller keeps the same key.
func TestControllerCreatesMemberlistSecret(t *testing.T) {
	testenv.Require(t, env)
	env.EnsureNamespace(t, "gossip", nil)
	key := client.ObjectKey{Namespace: "gossip", Name: "ironlb-memberlist"}
	opts := func(o *app.Options) {
		o.LeaderElect = false
		o.MemberlistSecretName, o.MemberlistSecretNamespace = key.Name, key.Namespace
	}
	c := startControllerWith(t, opts)
	var first corev1.Secret
	deadline := time.Now().Add(20 * time.Second)
	for env.Client.Get(context.Background(), key, &first) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the controller did not create the memberlist Secret")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(first.Data[gossipkey.DataKey]) < 32 {
		t.Fatalf("key %q is too short", first.Data[gossipkey.DataKey])
	}
	c.stop()
	startControllerWith(t, opts)
	time.Sleep(2 * time.Second)
	var again corev1.Secret
	if err := env.Client.Get(context.Background(), key, &again); err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != first.ResourceVersion {
		t.Errorf("a restarted controller changed the memberlist Secret")
	}
}
