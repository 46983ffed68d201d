package dbtest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// Sealer is an at-rest encryption for tests of layers that store secrets
// (TOTP seeds, device secrets) without depending on the key hierarchy:
// AES-256-GCM from the standard library with one random key per Sealer.
// The server uses the data-protection keyring instead.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer with a fresh random key.
func NewSealer() *Sealer {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic(err)
	}
	return &Sealer{aead: aead}
}

// Seal binds the ciphertext to tenant and aad.
func (s *Sealer) Seal(_ context.Context, tenantID string, aad, plaintext []byte) ([]byte, error) {
	return s.aead.Seal(nil, nil, plaintext, append([]byte(tenantID+"\x00"), aad...)), nil
}

// Open fails for a ciphertext sealed under another tenant or aad.
func (s *Sealer) Open(_ context.Context, tenantID string, aad, ciphertext []byte) ([]byte, error) {
	pt, err := s.aead.Open(nil, nil, ciphertext, append([]byte(tenantID+"\x00"), aad...))
	if err != nil {
		return nil, errors.New("dbtest sealer: message authentication failed")
	}
	return pt, nil
}
