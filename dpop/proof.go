package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

var errKeyType = errors.New("dpop: key must be ECDSA P-256 or Ed25519")

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url
// without padding: the value a session stores as its jkt and that
// Verifier.Verify returns for a proof made with the matching private key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	if _, err := algFor(pub); err != nil {
		return "", err
	}
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

func algFor(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jose.ES256, nil
		}
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return jose.EdDSA, nil
		}
	}
	return "", errKeyType
}

// NewProof makes a DPoP proof for one request: method and the request URL
// (its query and fragment are dropped, as RFC 9449 requires), the access
// token it accompanies ("" at the token endpoint) and the server nonce
// last received ("" if none). key is any crypto.Signer with an ECDSA P-256
// or Ed25519 public key, so a hardware-backed key (Secure Enclave, Android
// Keystore) works without exporting it. Each call uses a fresh 128-bit jti.
func NewProof(key crypto.Signer, method, requestURL, accessToken string, now time.Time, nonce string) (string, error) {
	alg, err := algFor(key.Public())
	if err != nil {
		return "", err
	}
	u, err := url.Parse(requestURL)
	if err != nil || !u.IsAbs() {
		return "", errors.New("dpop: request URL is not absolute")
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""

	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	c := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
		"htm": method,
		"htu": u.String(),
		"iat": now.Unix(),
	}
	if accessToken != "" {
		c["ath"] = ATH(accessToken)
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(typDPoP)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cryptosigner.Opaque(key)}, opts)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
