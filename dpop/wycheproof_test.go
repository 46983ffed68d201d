package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Wycheproof vectors check the signature primitives on the verify path.
//
// go-jose verifies a JWS only over its own signing input
// (BASE64URL(header) "." BASE64URL(payload)), so an arbitrary Wycheproof
// message cannot be fed through JSONWebSignature.Verify. What can be, is:
// each group's public key is parsed by go-jose from its JWK (the same code
// that reads the proof's jwk header), and each signature is checked the way
// go-jose's verifiers do it — ES256: exactly 64 bytes, r||s big-endian
// (IEEE P1363, not DER), crypto/ecdsa.Verify over SHA-256(msg); EdDSA:
// crypto/ed25519.Verify. TestSignatureEdgeCasesThroughVerify applies the
// same classes of malformed signature to real proofs end to end.
func vectorsDir(t *testing.T) string {
	t.Helper()
	for _, d := range []string{os.Getenv("MCRM_VECTORS"), "../../shared/vectors", "../../../shared/vectors", "/work/shared/vectors"} {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d, "wycheproof")); err == nil && fi.IsDir() {
			return filepath.Join(d, "wycheproof")
		}
	}
	t.Skip("shared vectors not found; set MCRM_VECTORS")
	return ""
}

type wycheFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		Type         string          `json:"type"`
		SHA          string          `json:"sha"`
		PublicKeyJWK json.RawMessage `json:"publicKeyJwk"`
		PublicKey    struct {
			Curve string `json:"curve"`
			WX    string `json:"wx"`
			WY    string `json:"wy"`
		} `json:"publicKey"`
		Tests []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Msg     string   `json:"msg"`
			Sig     string   `json:"sig"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func loadWyche(t *testing.T, name string) wycheFile {
	raw, err := os.ReadFile(filepath.Join(vectorsDir(t), name))
	must(t, err)
	var f wycheFile
	must(t, json.Unmarshal(raw, &f))
	return f
}

// joseES256Verify is the check go-jose's ecEncrypterVerifier.verifyPayload
// makes for ES256.
func joseES256Verify(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(msg)
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func runWyche(t *testing.T, f wycheFile, verify func(key any, msg, sig []byte) bool) (valid, invalid int) {
	total := 0
	for _, g := range f.TestGroups {
		rawJWK := g.PublicKeyJWK
		if rawJWK == nil && g.PublicKey.Curve == "secp256r1" {
			// Some groups give only the affine coordinates; write the JWK.
			rawJWK = mustJSON(t, map[string]string{"kty": "EC", "crv": "P-256", "x": coord(t, g.PublicKey.WX), "y": coord(t, g.PublicKey.WY)})
		}
		var jwk jose.JSONWebKey
		keyErr := jwk.UnmarshalJSON(rawJWK)
		if keyErr == nil && !jwk.IsPublic() {
			t.Fatalf("group key parsed as private")
		}
		for _, tc := range g.Tests {
			total++
			msg, err := hex.DecodeString(tc.Msg)
			must(t, err)
			sig, err := hex.DecodeString(tc.Sig)
			must(t, err)
			ok := keyErr == nil && verify(jwk.Key, msg, sig)
			switch tc.Result {
			case "valid":
				if !ok {
					t.Errorf("tcId %d (%s %v): valid signature rejected (key error %v)", tc.TcID, tc.Comment, tc.Flags, keyErr)
				}
				valid++
			case "invalid":
				if ok {
					t.Errorf("tcId %d (%s %v): invalid signature accepted", tc.TcID, tc.Comment, tc.Flags)
				}
				invalid++
			default:
				// "acceptable" is left to the implementation; DPoP takes
				// whatever go-jose decides, so nothing to assert.
			}
		}
	}
	if total != f.NumberOfTests {
		t.Fatalf("ran %d tests, file says %d", total, f.NumberOfTests)
	}
	return valid, invalid
}

func TestWycheproofECDSAP256SHA256P1363(t *testing.T) {
	f := loadWyche(t, "ecdsa_secp256r1_sha256_p1363_test.json")
	for _, g := range f.TestGroups {
		if g.Type != "EcdsaP1363Verify" || g.SHA != "SHA-256" {
			t.Fatalf("group type %s %s", g.Type, g.SHA)
		}
	}
	valid, invalid := runWyche(t, f, func(key any, msg, sig []byte) bool {
		pub, ok := key.(*ecdsa.PublicKey)
		return ok && joseES256Verify(pub, msg, sig)
	})
	if valid != 173 || invalid != 89 {
		t.Fatalf("valid %d invalid %d, want 173 and 89", valid, invalid)
	}
}

func TestWycheproofEd25519(t *testing.T) {
	f := loadWyche(t, "ed25519_test.json")
	valid, invalid := runWyche(t, f, func(key any, msg, sig []byte) bool {
		pub, ok := key.(ed25519.PublicKey)
		return ok && ed25519.Verify(pub, msg, sig)
	})
	if valid != 88 || invalid != 63 {
		t.Fatalf("valid %d invalid %d, want 88 and 63", valid, invalid)
	}
}

// coord turns a Wycheproof hex coordinate (minimal two's complement, so
// possibly with a leading 00 or shorter than 32 bytes) into the fixed
// 32-byte base64url JWK form.
func coord(t *testing.T, h string) string {
	b, err := hex.DecodeString(h)
	must(t, err)
	out := make([]byte, 32)
	new(big.Int).SetBytes(b).FillBytes(out)
	return b64(out)
}
