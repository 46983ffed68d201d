package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// NonceSource supplies server nonces (RFC 9449 §8). With one configured,
// a proof must carry a nonce the source accepts, which bounds a proof's
// life by the server's clock rather than the client's iat, so a device
// with a wrong clock, or a proof signed ahead of time on a stolen-for-a-
// moment device, is still caught.
type NonceSource interface {
	// Nonce is the value to send in the DPoP-Nonce response header now.
	Nonce(now time.Time) string
	// Check reports whether a nonce taken from a proof is acceptable now.
	Check(nonce string, now time.Time) bool
}

// HMACNonces is a stateless NonceSource: a nonce is the number of the
// current time window and an HMAC of it, so every node that shares the key
// issues and accepts the same nonces without shared storage. A nonce is
// accepted in its own window and the next one, so it lives between one and
// two periods.
type HMACNonces struct {
	key    []byte
	period time.Duration
}

// NewHMACNonces returns a nonce source with the given secret key (at least
// 32 bytes, from a CSPRNG, the same on every node) and window length
// (a minute or so; at least one second).
func NewHMACNonces(key []byte, period time.Duration) (*HMACNonces, error) {
	if len(key) < 32 {
		return nil, errors.New("dpop: nonce key shorter than 32 bytes")
	}
	if period < time.Second {
		return nil, errors.New("dpop: nonce period shorter than one second")
	}
	return &HMACNonces{key: append([]byte(nil), key...), period: period}, nil
}

const nonceMACLen = 16

func (n *HMACNonces) window(now time.Time) uint64 {
	return uint64(now.UnixNano() / int64(n.period))
}

func (n *HMACNonces) encode(w uint64) string {
	var buf [8 + nonceMACLen]byte
	binary.BigEndian.PutUint64(buf[:8], w)
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("mcrm dpop nonce\x00"))
	m.Write(buf[:8])
	copy(buf[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(buf[:])
}

// Nonce implements NonceSource.
func (n *HMACNonces) Nonce(now time.Time) string { return n.encode(n.window(now)) }

// Check implements NonceSource.
func (n *HMACNonces) Check(nonce string, now time.Time) bool {
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(raw) != 8+nonceMACLen {
		return false
	}
	w := binary.BigEndian.Uint64(raw[:8])
	cur := n.window(now)
	if w != cur && w+1 != cur {
		return false
	}
	return hmac.Equal([]byte(n.encode(w)), []byte(nonce))
}
