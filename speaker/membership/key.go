package membership

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// KeyInfo is the HKDF "info" string bound into every derived gossip key. It is fixed
// and versioned: changing it changes every key, so a speaker of another key version
// simply cannot talk to this one instead of misreading its packets. It also separates
// this key from anything else a cluster might derive from the same Secret.
const KeyInfo = "ironlb memberlist v1"

// MinSecretLen is the shortest Secret accepted. A Secret this short already carries
// 128 bits if it is random; anything shorter is most likely a typo or a placeholder.
const MinSecretLen = 16

// KeyLen is the length of a derived key: 32 bytes selects AES-256-GCM in memberlist.
const KeyLen = 32

// DeriveKey turns the bytes of the Kubernetes Secret into memberlist's AES-256 key with
// HKDF-SHA256 (no salt, info KeyInfo). The Secret may have any length and format, but it
// must hold at least MinSecretLen bytes: a missing, empty or short Secret is an error,
// never a silently unencrypted or weakly keyed cluster.
//
// The same secret always gives the same key, so every speaker reading the Secret agrees.
func DeriveKey(secret []byte) ([]byte, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("membership: secret for memberlist encryption is %d bytes; need at least %d random bytes", len(secret), MinSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, KeyInfo, KeyLen)
	if err != nil {
		return nil, fmt.Errorf("membership: deriving memberlist key: %w", err)
	}
	return key, nil
}
