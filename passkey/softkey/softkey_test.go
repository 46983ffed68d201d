package softkey_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"

	"mcrm/passkey/softkey"
)

func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The JSON has exactly the members PublicKeyCredential.toJSON() gives, and
// go-webauthn's parsers read it, flags and counter included.
func TestBrowserShapedJSON(t *testing.T) {
	sk, err := softkey.New("https://localhost:8443")
	if err != nil {
		t.Fatal(err)
	}
	sk.Flags = softkey.Flags{UP: true, UV: true, BE: true, BS: true}
	sk.Counter = 41
	creation := []byte(`{"publicKey":{"rp":{"id":"localhost","name":"mcrm"},"user":{"id":"dXNlci0x","name":"u","displayName":"U"},"challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`)
	body, err := sk.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Response json.RawMessage `json:"response"`
	}
	_ = json.Unmarshal(body, &reg)
	if got := keys(t, body); !slices.Equal(got, []string{"authenticatorAttachment", "clientExtensionResults", "id", "rawId", "response", "type"}) {
		t.Fatalf("registration members: %v", got)
	}
	if got := keys(t, reg.Response); !slices.Equal(got, []string{"attestationObject", "authenticatorData", "clientDataJSON", "publicKey", "publicKeyAlgorithm", "transports"}) {
		t.Fatalf("registration response members: %v", got)
	}
	pcc, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		t.Fatal(err)
	}
	ad := pcc.Response.AttestationObject.AuthData
	if pcc.Response.AttestationObject.Format != "none" || ad.Counter != 41 || ad.Flags != protocol.FlagUserPresent|protocol.FlagUserVerified|protocol.FlagBackupEligible|protocol.FlagBackupState|protocol.FlagAttestedCredentialData ||
		string(ad.AttData.CredentialID) != string(sk.CredentialID()) || string(sk.UserHandle()) != "user-1" ||
		pcc.Response.CollectedClientData.Type != "webauthn.create" || pcc.Response.CollectedClientData.Origin != "https://localhost:8443" {
		t.Fatalf("parsed registration: %+v %+v", ad, pcc.Response.CollectedClientData)
	}

	sk.Flags = softkey.Flags{UP: true}
	body, err = sk.Login([]byte(`{"publicKey":{"challenge":"AQIDBAUGBwgJCgsMDQ4PEA","rpId":"localhost"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var as struct {
		Response json.RawMessage `json:"response"`
	}
	_ = json.Unmarshal(body, &as)
	if got := keys(t, as.Response); !slices.Equal(got, []string{"authenticatorData", "clientDataJSON", "signature", "userHandle"}) {
		t.Fatalf("assertion response members: %v", got)
	}
	par, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		t.Fatal(err)
	}
	if par.Response.AuthenticatorData.Counter != 42 || par.Response.AuthenticatorData.Flags != protocol.FlagUserPresent ||
		string(par.Response.UserHandle) != "user-1" || par.Response.CollectedClientData.Challenge != "AQIDBAUGBwgJCgsMDQ4PEA" {
		t.Fatalf("parsed assertion: %+v", par.Response)
	}
	// An allow-list without this credential finds nothing, as in a browser.
	if _, err := sk.Login([]byte(`{"challenge":"AQIDBAUGBwgJCgsMDQ4PEA","allowCredentials":[{"type":"public-key","id":"AAAA"}]}`)); err == nil {
		t.Fatal("answered for a credential it does not hold")
	}
}
