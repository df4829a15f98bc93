// Package gossipkey creates the Secret the speakers derive their memberlist key from.
//
// The chart cannot: a key rendered by Helm is a new random value on every `helm template`
// (Argo CD and other GitOps tools render that way), and a changed key splits the speakers
// into groups that cannot read each other. So the controller creates the Secret once, when
// it is missing, and never reads, updates or deletes it after: an existing Secret (one an
// administrator made, or a rotated one) is always left exactly as it is. Create is atomic,
// so replicas racing at start-up end with one Secret, and the controller needs only the
// create verb on Secrets, never read access to them.
package gossipkey

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// DataKey is the Secret's key whose value the speakers read (the file
// /etc/ironlb/memberlist/secretkey in their pods).
const DataKey = "secretkey"

// RandomBytes is how many bytes of crypto/rand the key holds (256 bits), written in
// base64 so the Secret stays printable, as `head -c 32 /dev/urandom | base64` would.
const RandomBytes = 32

// Creator is a manager Runnable that makes sure the Secret exists, then stops.
type Creator struct {
	// Client needs only create on Secrets in Namespace.
	Client    client.Client
	Namespace string
	Name      string
}

// NeedLeaderElection is false: the speakers wait for the Secret, so every replica tries at
// once rather than waiting for an election, and Create settles any race.
func (c *Creator) NeedLeaderElection() bool { return false }

// Start creates the Secret if it is missing, retrying API errors until it succeeds or ctx
// ends.
func (c *Creator) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("gossipkey")
	for delay := 200 * time.Millisecond; ; delay = min(delay*2, 30*time.Second) {
		created, err := Ensure(ctx, c.Client, c.Namespace, c.Name)
		if err == nil {
			if created {
				logger.Info("created the memberlist key Secret", "secret", c.Namespace+"/"+c.Name)
			} else {
				logger.Info("the memberlist key Secret exists; leaving it as it is", "secret", c.Namespace+"/"+c.Name)
			}
			return nil
		}
		logger.Error(err, "creating the memberlist key Secret; retrying", "secret", c.Namespace+"/"+c.Name, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// Ensure creates Secret namespace/name with a new random key unless it already exists,
// and reports whether it created it. An existing Secret is never read or changed.
func Ensure(ctx context.Context, c client.Client, namespace, name string) (bool, error) {
	key, err := NewKey()
	if err != nil {
		return false, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      name,
			Labels: map[string]string{
				"app.kubernetes.io/name":       "ironlb",
				"app.kubernetes.io/component":  "speaker",
				"app.kubernetes.io/managed-by": "ironlb-controller",
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{DataKey: key},
	}
	switch err := c.Create(ctx, secret); {
	case err == nil:
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	default:
		return false, fmt.Errorf("creating Secret %s/%s: %w", namespace, name, err)
	}
}

// NewKey returns RandomBytes bytes from crypto/rand, base64-encoded.
func NewKey() ([]byte, error) {
	raw := make([]byte, RandomBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("reading random bytes for the memberlist key: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(raw)), nil
}
