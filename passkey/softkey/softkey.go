// Package softkey is a software WebAuthn authenticator plus the browser
// part of a ceremony, for tests: it reads the options JSON a server sends,
// and answers with the JSON a browser's PublicKeyCredential.toJSON()
// produces, so the server's real parsing and verification run unchanged.
//
// Everything a hostile or broken client could vary is a field: the origin
// written into clientDataJSON, the RP ID hashed into authenticatorData, the
// UP/UV/BE/BS flags, the signature counter and the AAGUID. It makes "none"
// attestation only, with an ECDSA P-256 key (COSE ES256), which is what
// synced passkeys and most platform authenticators send.
//
// Not for production use: the private key lives in process memory.
package softkey

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator flag bits (WebAuthn §6.1 authenticator data).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Flags are the authenticator data flags the next ceremony reports.
type Flags struct {
	UP bool // user present
	UV bool // user verified
	BE bool // backup eligible (a synced passkey)
	BS bool // backed up
}

func (f Flags) byte() byte {
	var b byte
	if f.UP {
		b |= flagUP
	}
	if f.UV {
		b |= flagUV
	}
	if f.BE {
		b |= flagBE
	}
	if f.BS {
		b |= flagBS
	}
	return b
}

// Authenticator is one software credential. Set the exported fields
// between ceremonies to shape the next response.
type Authenticator struct {
	// Origin goes into clientDataJSON (the browser's view of the page).
	Origin string
	// RPID, when set, is hashed into authenticatorData instead of the RP ID
	// from the options (a phishing site's authenticator data).
	RPID string
	// Flags reported by the next ceremony.
	Flags Flags
	// Counter is the signature counter of the next ceremony; after each one
	// it grows by CounterStep (0 for a synced passkey, which never counts).
	Counter     uint32
	CounterStep uint32
	// AAGUID identifies the authenticator model.
	AAGUID [16]byte
	// OmitUserHandle leaves userHandle out of assertions (a non-discoverable
	// security key).
	OmitUserHandle bool
	// Attachment is reported as authenticatorAttachment.
	Attachment string

	key          *ecdsa.PrivateKey
	credentialID []byte
	userHandle   []byte
	rpID         string // bound at registration, as a real authenticator does
}

// New returns a fresh authenticator for origin with a new key and a random
// 32-byte credential id. It starts as a device-bound platform authenticator
// that verifies the user: UP and UV set, counter 1, step 1.
func New(origin string) (*Authenticator, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &Authenticator{Origin: origin, Flags: Flags{UP: true, UV: true}, Counter: 1, CounterStep: 1, Attachment: "platform", key: key, credentialID: id}, nil
}

// CredentialID is the credential's id as the server will see it.
func (a *Authenticator) CredentialID() []byte { return bytes.Clone(a.credentialID) }

// UserHandle is the user.id the credential was registered for.
func (a *Authenticator) UserHandle() []byte { return bytes.Clone(a.userHandle) }

// b64 is the encoding of every binary member of the WebAuthn JSON forms.
var b64 = base64.RawURLEncoding

// creationOptions is the part of PublicKeyCredentialCreationOptionsJSON a
// browser reads; the server may wrap it in {"publicKey": ...}.
type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Challenge string `json:"challenge"`
	Exclude   []struct {
		ID string `json:"id"`
	} `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
	Allow     []struct {
		ID string `json:"id"`
	} `json:"allowCredentials"`
}

// unwrap accepts both the bare options and the {"publicKey": options} form
// that go-webauthn and navigator.credentials take.
func unwrap(options []byte, v any) error {
	var outer struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &outer); err != nil {
		return fmt.Errorf("softkey: options: %w", err)
	}
	if len(outer.PublicKey) > 0 {
		options = outer.PublicKey
	}
	if err := json.Unmarshal(options, v); err != nil {
		return fmt.Errorf("softkey: options: %w", err)
	}
	return nil
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	// Field order as browsers write it; servers must not depend on it, but
	// a test that looks like the real thing catches more.
	cd, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, challenge, a.Origin, false})
	return cd
}

func (a *Authenticator) authData(rpID string, flags byte, attested []byte) []byte {
	if a.RPID != "" {
		rpID = a.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	out := make([]byte, 0, 37+len(attested))
	out = append(out, h[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, a.Counter)
	out = append(out, attested...)
	a.Counter += a.CounterStep
	return out
}

// coseKey is the credential public key as a COSE_Key (RFC 9053 EC2,
// alg ES256), CTAP2 canonical CBOR.
func (a *Authenticator) coseKey() ([]byte, error) {
	pub, err := a.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
}

// RegistrationResponse is the JSON of a registration PublicKeyCredential.
type RegistrationResponse struct {
	ID                      string         `json:"id"`
	RawID                   string         `json:"rawId"`
	Type                    string         `json:"type"`
	AuthenticatorAttachment string         `json:"authenticatorAttachment,omitempty"`
	ClientExtensionResults  map[string]any `json:"clientExtensionResults"`
	Response                struct {
		ClientDataJSON     string   `json:"clientDataJSON"`
		AttestationObject  string   `json:"attestationObject"`
		AuthenticatorData  string   `json:"authenticatorData"`
		Transports         []string `json:"transports"`
		PublicKey          string   `json:"publicKey"`
		PublicKeyAlgorithm int      `json:"publicKeyAlgorithm"`
	} `json:"response"`
}

// Register answers creation options (navigator.credentials.create) and
// returns the registration JSON. It binds the credential to the options'
// RP ID and user.id, as an authenticator does.
func (a *Authenticator) Register(options []byte) ([]byte, error) {
	var o creationOptions
	if err := unwrap(options, &o); err != nil {
		return nil, err
	}
	for _, ex := range o.Exclude {
		if ex.ID == b64.EncodeToString(a.credentialID) {
			return nil, errors.New("softkey: InvalidStateError: credential already registered")
		}
	}
	user, err := b64.DecodeString(o.User.ID)
	if err != nil {
		return nil, fmt.Errorf("softkey: user.id: %w", err)
	}
	a.userHandle, a.rpID = user, o.RP.ID
	cose, err := a.coseKey()
	if err != nil {
		return nil, err
	}
	att := append([]byte{}, a.AAGUID[:]...)
	att = binary.BigEndian.AppendUint16(att, uint16(len(a.credentialID)))
	att = append(att, a.credentialID...)
	att = append(att, cose...)
	ad := a.authData(o.RP.ID, a.Flags.byte()|flagAT, att)
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	obj, err := em.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&a.key.PublicKey)
	if err != nil {
		return nil, err
	}
	var r RegistrationResponse
	r.ID = b64.EncodeToString(a.credentialID)
	r.RawID = r.ID
	r.Type = "public-key"
	r.AuthenticatorAttachment = a.Attachment
	r.ClientExtensionResults = map[string]any{}
	r.Response.ClientDataJSON = b64.EncodeToString(a.clientData("webauthn.create", o.Challenge))
	r.Response.AttestationObject = b64.EncodeToString(obj)
	r.Response.AuthenticatorData = b64.EncodeToString(ad)
	r.Response.Transports = []string{"internal"}
	r.Response.PublicKey = b64.EncodeToString(spki)
	r.Response.PublicKeyAlgorithm = -7
	return json.Marshal(r)
}

// AssertionResponse is the JSON of an authentication PublicKeyCredential.
type AssertionResponse struct {
	ID                      string         `json:"id"`
	RawID                   string         `json:"rawId"`
	Type                    string         `json:"type"`
	AuthenticatorAttachment string         `json:"authenticatorAttachment,omitempty"`
	ClientExtensionResults  map[string]any `json:"clientExtensionResults"`
	Response                struct {
		ClientDataJSON    string `json:"clientDataJSON"`
		AuthenticatorData string `json:"authenticatorData"`
		Signature         string `json:"signature"`
		UserHandle        string `json:"userHandle,omitempty"`
	} `json:"response"`
}

// Login answers request options (navigator.credentials.get) and returns
// the assertion JSON. With an allow-list that does not name this
// credential it fails, as a browser finds no credential.
func (a *Authenticator) Login(options []byte) ([]byte, error) {
	var o requestOptions
	if err := unwrap(options, &o); err != nil {
		return nil, err
	}
	if len(o.Allow) > 0 {
		found := false
		for _, c := range o.Allow {
			found = found || c.ID == b64.EncodeToString(a.credentialID)
		}
		if !found {
			return nil, errors.New("softkey: NotAllowedError: no matching credential")
		}
	}
	rpID := o.RPID
	if rpID == "" {
		rpID = a.rpID
	}
	ad := a.authData(rpID, a.Flags.byte(), nil)
	cd := a.clientData("webauthn.get", o.Challenge)
	// ES256: ECDSA over SHA-256(authenticatorData || SHA-256(clientDataJSON)).
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(bytes.Clone(ad), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		return nil, err
	}
	var r AssertionResponse
	r.ID = b64.EncodeToString(a.credentialID)
	r.RawID = r.ID
	r.Type = "public-key"
	r.AuthenticatorAttachment = a.Attachment
	r.ClientExtensionResults = map[string]any{}
	r.Response.ClientDataJSON = b64.EncodeToString(cd)
	r.Response.AuthenticatorData = b64.EncodeToString(ad)
	r.Response.Signature = b64.EncodeToString(sig)
	if !a.OmitUserHandle {
		r.Response.UserHandle = b64.EncodeToString(a.userHandle)
	}
	return json.Marshal(r)
}
