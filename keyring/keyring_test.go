package keyring_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/fips140"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"mcrm"
	"mcrm/keyring"
)

var ctx = context.Background()

// master is 00 01 .. 1f. The expected values below were computed with
// Python (hmac/hashlib HKDF, cross-checked with pyca/cryptography's HKDF and
// AESGCM), not with this package or crypto/hkdf.
var master = func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

const (
	masterB64     = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	wantKeyID     = "8b3ac4c3"
	wantThrottle  = "347bbf3d9018dc21e0bef29867a0f5c5ed70a502bb8a8abd2fb2048d9c44dcac" // Derive("login-throttle")
	wantRiskHash  = "f1b06872852aa341c9a64319dc168ac01af9f593e469f8faa72a8109bf65aa83" // Derive("risk-hash")
	katTenant     = "01J9ZQ3T7T3N4NTA0000000000"
	katPlaintext  = "peter@initech.example"
	katCiphertext = "01" + "8b3ac4c3" + "a0a1a2a3a4a5a6a7a8a9aaab" +
		"c3be0af9282325978e0433aaaa5617f5100ed729446e590f171d988788ef2cece98817f00d"
)

var katAAD = mcrm.AAD(katTenant, "contacts", "email", "01J9ZQ4R0W000000000000000A")

func mustNew(t testing.TB, key []byte) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refGCM is AES-GCM with caller-chosen nonces, the reference the tests
// check against. FIPS 140-only mode forbids choosing nonces (which is why the
// sealer uses NewGCMWithRandomNonce), so the reference is built with
// enforcement lifted and the suite also runs under GODEBUG=fips140=only.
func refGCM(t testing.TB, key []byte) cipher.AEAD {
	t.Helper()
	var gcm cipher.AEAD
	var err error
	fips140.WithoutEnforcement(func() {
		var block cipher.Block
		if block, err = aes.NewCipher(key); err == nil {
			gcm, err = cipher.NewGCM(block)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return gcm
}

func TestNew(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := keyring.New(make([]byte, n))
		if want := fmt.Sprintf("keyring: master key is %d bytes, want 32", n); err == nil || err.Error() != want {
			t.Errorf("New(%d bytes) = %v, want %q", n, err, want)
		}
	}
	key := bytes.Clone(master)
	k := mustNew(t, key)
	key[0] ^= 0xff // the keyring keeps its own copy
	if got := hex.EncodeToString(k.Derive("login-throttle")); got != wantThrottle {
		t.Errorf("caller's buffer changed the key: %s", got)
	}
	if k.Source() != "memory" {
		t.Errorf("Source = %q, want memory", k.Source())
	}
}

func TestKnownAnswers(t *testing.T) {
	k := mustNew(t, master)
	if k.KeyID() != wantKeyID {
		t.Errorf("KeyID = %s, want %s", k.KeyID(), wantKeyID)
	}
	idKey, err := hkdf.Key(sha256.New, master, nil, "mcrm key id", 32)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(idKey); hex.EncodeToString(h[:4]) != wantKeyID {
		t.Errorf("crypto/hkdf key id = %x", h[:4])
	}
	for purpose, want := range map[string]string{"login-throttle": wantThrottle, "risk-hash": wantRiskHash} {
		got := k.Derive(purpose)
		if hex.EncodeToString(got) != want {
			t.Errorf("Derive(%q) = %x, want %s", purpose, got, want)
		}
		ref, err := hkdf.Key(sha256.New, master, nil, "mcrm/v1/"+purpose, 32)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ref) {
			t.Errorf("Derive(%q) = %x, crypto/hkdf gives %x", purpose, got, ref)
		}
	}
	if fmt.Sprint(k) != "keyring(id=8b3ac4c3, source=memory)" {
		t.Errorf("String = %q", fmt.Sprint(k))
	}
}

func TestDerive(t *testing.T) {
	k := mustNew(t, master)
	a := k.Derive("dpop-nonce")
	if len(a) != 32 {
		t.Fatalf("len = %d, want 32", len(a))
	}
	a[0] ^= 0xff // a returned key is the caller's own copy
	if b := k.Derive("dpop-nonce"); a[0] == b[0] || !bytes.Equal(a[1:], b[1:]) {
		t.Errorf("Derive not deterministic or shares its buffer: %x vs %x", a, b)
	}
	seen := map[string]string{}
	for _, p := range []string{"login-throttle", "risk-hash", "dpop-nonce", "dpop-nonce ", "Dpop-nonce", "x"} {
		h := hex.EncodeToString(k.Derive(p))
		if q, dup := seen[h]; dup {
			t.Errorf("purposes %q and %q give the same key", p, q)
		}
		seen[h] = p
	}
	other := bytes.Clone(master)
	other[31] ^= 1
	if bytes.Equal(mustNew(t, other).Derive("risk-hash"), k.Derive("risk-hash")) {
		t.Error("different master keys give the same subkey")
	}
	for _, p := range []string{"", "seal/", "seal/" + katTenant} {
		func() {
			defer func() {
				if r := recover(); r != fmt.Sprintf("keyring: purpose %q is reserved", p) {
					t.Errorf("Derive(%q) recovered %v, want reserved-purpose panic", p, r)
				}
			}()
			k.Derive(p)
		}()
	}
}

// TestOpenKnownCiphertext opens a value sealed by an independent
// implementation (Python) of the documented format, so the format, the
// tenant key derivation and the associated data are pinned, not only
// consistent with themselves.
func TestOpenKnownCiphertext(t *testing.T) {
	s := mustNew(t, master).Sealer()
	pt, err := s.Open(ctx, katTenant, katAAD, unhex(t, katCiphertext))
	if err != nil || string(pt) != katPlaintext {
		t.Fatalf("Open = %q, %v; want %q", pt, err, katPlaintext)
	}
}

// TestSealFormat takes a fresh sealed value apart and opens it with
// crypto/hkdf and crypto/cipher alone.
func TestSealFormat(t *testing.T) {
	k := mustNew(t, master)
	pt := []byte(katPlaintext)
	ct, err := k.Sealer().Seal(ctx, katTenant, katAAD, pt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != 1+4+12+len(pt)+16 {
		t.Fatalf("len = %d, want %d", len(ct), 1+4+12+len(pt)+16)
	}
	if ct[0] != 1 || hex.EncodeToString(ct[1:5]) != wantKeyID {
		t.Fatalf("header = %x, want 01%s", ct[:5], wantKeyID)
	}
	key, err := hkdf.Key(sha256.New, master, nil, "mcrm/v1/seal/"+katTenant, 32)
	if err != nil {
		t.Fatal(err)
	}
	gcm := refGCM(t, key)
	aad := binary.BigEndian.AppendUint32(nil, uint32(len(katTenant)))
	aad = append(append(aad, katTenant...), katAAD...)
	got, err := gcm.Open(nil, ct[5:17], ct[17:], aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("independent open = %q, %v", got, err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := mustNew(t, master).Sealer()
	for _, n := range []int{0, 1, 15, 16, 17, 64, 4096} {
		pt := bytes.Repeat([]byte{0x5a}, n)
		for _, aad := range [][]byte{nil, katAAD} {
			ct, err := s.Seal(ctx, katTenant, aad, pt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Open(ctx, katTenant, aad, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("n=%d: Open = %x, %v", n, got, err)
			}
			ct2, _ := s.Seal(ctx, katTenant, aad, pt)
			if bytes.Equal(ct, ct2) {
				t.Fatalf("n=%d: two seals of the same value are equal (nonce reuse)", n)
			}
		}
	}
	// A nil aad and an empty one are the same associated data.
	ct, _ := s.Seal(ctx, katTenant, nil, []byte("x"))
	if got, err := s.Open(ctx, katTenant, []byte{}, ct); err != nil || string(got) != "x" {
		t.Errorf("nil vs empty aad: %q, %v", got, err)
	}
}

func wantCannotOpen(t *testing.T, what string, pt []byte, err error) {
	t.Helper()
	if pt != nil || !errors.Is(err, keyring.ErrCannotOpen) || err.Error() != "keyring: cannot open value" {
		t.Errorf("%s: Open = %x, %v; want nil, keyring: cannot open value", what, pt, err)
	}
}

func TestTamper(t *testing.T) {
	s := mustNew(t, master).Sealer()
	ct := unhex(t, katCiphertext)
	for i := range ct {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(ct)
			bad[i] ^= bit
			pt, err := s.Open(ctx, katTenant, katAAD, bad)
			wantCannotOpen(t, fmt.Sprintf("byte %d ^ %#x", i, bit), pt, err)
		}
	}
	for n := range len(ct) {
		pt, err := s.Open(ctx, katTenant, katAAD, ct[:n])
		wantCannotOpen(t, fmt.Sprintf("truncated to %d", n), pt, err)
	}
	pt, err := s.Open(ctx, katTenant, katAAD, append(bytes.Clone(ct), 0))
	wantCannotOpen(t, "extra byte", pt, err)
}

func TestWrongTenantAndAAD(t *testing.T) {
	s := mustNew(t, master).Sealer()
	ct := unhex(t, katCiphertext)
	pt, err := s.Open(ctx, "01J9ZQ3T7T3N4NTB0000000000", katAAD, ct)
	wantCannotOpen(t, "other tenant, same aad", pt, err)
	pt, err = s.Open(ctx, katTenant, mcrm.AAD(katTenant, "contacts", "phone", "01J9ZQ4R0W000000000000000A"), ct)
	wantCannotOpen(t, "other column", pt, err)
	pt, err = s.Open(ctx, katTenant, nil, ct)
	wantCannotOpen(t, "no aad", pt, err)

	// Length-prefixing the tenant keeps ("ab", "c...") and ("a", "bc...")
	// apart even if the data keys were equal.
	ct2, _ := s.Seal(ctx, "ab", []byte("c"), []byte("v"))
	pt, err = s.Open(ctx, "a", []byte("bc"), ct2)
	wantCannotOpen(t, "shifted tenant/aad boundary", pt, err)

	for _, op := range []func() ([]byte, error){
		func() ([]byte, error) { return s.Seal(ctx, "", nil, []byte("v")) },
		func() ([]byte, error) { return s.Open(ctx, "", nil, ct) },
	} {
		if out, err := op(); out != nil || err == nil || err.Error() != "keyring: empty tenant id" {
			t.Errorf("empty tenant: %x, %v", out, err)
		}
	}
}

func TestVersionAndKeyID(t *testing.T) {
	s := mustNew(t, master).Sealer()
	ct := unhex(t, katCiphertext)
	for _, v := range []byte{0, 2, 0xff} {
		bad := bytes.Clone(ct)
		bad[0] = v
		pt, err := s.Open(ctx, katTenant, katAAD, bad)
		wantCannotOpen(t, fmt.Sprintf("version %d", v), pt, err)
	}
	bad := bytes.Clone(ct)
	copy(bad[1:5], []byte{0xde, 0xad, 0xbe, 0xef})
	pt, err := s.Open(ctx, katTenant, katAAD, bad)
	wantCannotOpen(t, "unknown key id", pt, err)

	// A value from another master key fails, and so does that value with
	// this key's id spliced in.
	other := bytes.Clone(master)
	other[0] ^= 1
	ko := mustNew(t, other)
	oct, _ := ko.Sealer().Seal(ctx, katTenant, katAAD, []byte(katPlaintext))
	pt, err = s.Open(ctx, katTenant, katAAD, oct)
	wantCannotOpen(t, "other master key", pt, err)
	copy(oct[1:5], unhex(t, wantKeyID))
	pt, err = s.Open(ctx, katTenant, katAAD, oct)
	wantCannotOpen(t, "other master key, key id forged", pt, err)
}

func TestSealerConcurrent(t *testing.T) {
	s := mustNew(t, master).Sealer()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				tenant := fmt.Sprintf("t%d", (g+i)%5)
				pt := []byte(fmt.Sprintf("%d/%d", g, i))
				ct, err := s.Seal(ctx, tenant, nil, pt)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := s.Open(ctx, tenant, nil, ct); err != nil || !bytes.Equal(got, pt) {
					t.Errorf("%s: %q, %v", tenant, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestFormatHidesKey(t *testing.T) {
	k := mustNew(t, master)
	out := fmt.Sprintf("%v %+v %#v %s %x %X %d %q", k, k, k, k, k, k, k, k)
	for _, secret := range []string{hex.EncodeToString(master), strings.ToUpper(hex.EncodeToString(master)), masterB64, "[0 1 2 3 4", "0x0, 0x1, 0x2", "\\x00\\x01"} {
		if strings.Contains(out, secret) {
			t.Errorf("formatted keyring contains %q: %s", secret, out)
		}
	}
}

// --- Load ---

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
}

func keyB64(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func idOf(t *testing.T, b byte) string { return mustNew(t, bytes.Repeat([]byte{b}, 32)).KeyID() }

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	fileEnv := filepath.Join(t.TempDir(), "secret")
	writeFile(t, fileEnv, keyB64(1)+"\n", 0o400)
	dataKey := filepath.Join(dir, "master.key")
	writeFile(t, dataKey, keyB64(3)+"\n", 0o600)

	cases := []struct {
		env        map[string]string
		wantSource string
		wantID     string
	}{
		{map[string]string{"MCRM_MASTER_KEY_FILE": fileEnv, "MCRM_MASTER_KEY": keyB64(2)}, "file:" + fileEnv, idOf(t, 1)},
		{map[string]string{"MCRM_MASTER_KEY": keyB64(2)}, "env", idOf(t, 2)},
		{map[string]string{}, "file:" + dataKey, idOf(t, 3)},
	}
	for _, c := range cases {
		k, err := keyring.Load(dir, env(c.env))
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		if k.Source() != c.wantSource || k.KeyID() != c.wantID {
			t.Errorf("%v: source %q id %s, want %q %s", c.env, k.Source(), k.KeyID(), c.wantSource, c.wantID)
		}
	}

	// A key from the environment needs no data directory and creates no file.
	empty := t.TempDir()
	for _, e := range []map[string]string{{"MCRM_MASTER_KEY_FILE": fileEnv}, {"MCRM_MASTER_KEY": keyB64(2)}} {
		if _, err := keyring.Load(empty, env(e)); err != nil {
			t.Fatal(err)
		}
		if _, err := keyring.Load("", env(e)); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("Load with an env key wrote to the data dir: %v", ents)
	}
	_, err := keyring.Load("", env(nil))
	if want := "keyring: no master key: set MCRM_MASTER_KEY_FILE or MCRM_MASTER_KEY, or give a data directory"; err == nil || err.Error() != want {
		t.Errorf("no key anywhere: %v, want %q", err, want)
	}
}

func TestLoadGenerates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	path := filepath.Join(dir, "master.key")
	k1, err := keyring.Load(dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if k1.Source() != "generated:"+path {
		t.Errorf("Source = %q, want generated:%s", k1.Source(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("master.key mode = %v, want -rw-------", fi.Mode())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, want drwx------", di.Mode())
	}
	raw, _ := os.ReadFile(path)
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{43}=\n$`).Match(raw) {
		t.Errorf("master.key content is not 44 chars of base64 and a newline (%d bytes)", len(raw))
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if mustNew(t, key).KeyID() != k1.KeyID() {
		t.Error("the file does not hold the key Load returned")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("data dir holds %d entries, want only master.key (temporary file left?)", len(ents))
	}

	k2, err := keyring.Load(dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if k2.Source() != "file:"+path || k2.KeyID() != k1.KeyID() || !bytes.Equal(k2.Derive("risk-hash"), k1.Derive("risk-hash")) {
		t.Errorf("second Load: source %q id %s, want file:%s %s", k2.Source(), k2.KeyID(), path, k1.KeyID())
	}
	raw2, _ := os.ReadFile(path)
	if !bytes.Equal(raw, raw2) {
		t.Error("second Load rewrote master.key")
	}
}

// Processes starting together on an empty data directory must agree on one
// key; goroutines exercise the same link race.
func TestLoadGeneratesOnceUnderRace(t *testing.T) {
	dir := t.TempDir()
	const n = 16
	ks := make([]*keyring.Keyring, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := keyring.Load(dir, env(nil))
			if err != nil {
				t.Error(err)
				return
			}
			ks[i] = k
		})
	}
	wg.Wait()
	generated := 0
	for _, k := range ks {
		if k == nil {
			t.FailNow()
		}
		if strings.HasPrefix(k.Source(), "generated:") {
			generated++
		}
		if k.KeyID() != ks[0].KeyID() {
			t.Fatalf("key ids differ: %s vs %s", k.KeyID(), ks[0].KeyID())
		}
	}
	if generated != 1 {
		t.Errorf("%d loads report generated, want 1", generated)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("data dir holds %d entries, want 1", len(ents))
	}
}

func TestLoadRefusesOpenPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o610} {
		dir := t.TempDir()
		path := filepath.Join(dir, "master.key")
		writeFile(t, path, keyB64(7)+"\n", mode)
		_, err := keyring.Load(dir, env(nil))
		want := fmt.Sprintf("keyring: master key file %s is accessible to group or others (mode %04o); restrict it with chmod 600", path, mode)
		if err == nil || err.Error() != want {
			t.Errorf("data dir file mode %04o: %v, want %q", mode, err, want)
		}
		_, err = keyring.Load("", env(map[string]string{"MCRM_MASTER_KEY_FILE": path}))
		if err == nil || err.Error() != "keyring: MCRM_MASTER_KEY_FILE: "+strings.TrimPrefix(want, "keyring: ") {
			t.Errorf("MCRM_MASTER_KEY_FILE mode %04o: %v", mode, err)
		}
		if raw, _ := os.ReadFile(path); string(raw) != keyB64(7)+"\n" {
			t.Error("a refused key file was changed")
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := filepath.Join(t.TempDir(), "k")
		writeFile(t, path, keyB64(7), mode)
		if _, err := keyring.Load("", env(map[string]string{"MCRM_MASTER_KEY_FILE": path})); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := keyring.Load("", env(map[string]string{"MCRM_MASTER_KEY_FILE": missing}))
	if want := "keyring: MCRM_MASTER_KEY_FILE: open " + missing + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing file: %v, want %q", err, want)
	}
}

func TestLoadRefusesBadKeys(t *testing.T) {
	const msg = "not a master key: want 32 random bytes in standard base64 (44 characters), e.g. the output of: openssl rand -base64 32"
	bad := []string{
		"correct horse battery staple",
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 16)),    // short key
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 31)),    // 44 chars, 31 bytes
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 33)),    // 44 chars, 33 bytes
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 64)),    // long key
		hex.EncodeToString(bytes.Repeat([]byte{0xab}, 32)),                // hex
		base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)), // URL alphabet
		base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)), // no padding
		masterB64[:42] + "9=",                  // non-zero trailing bits
		masterB64[:20] + "\n" + masterB64[21:], // newline inside
		" " + masterB64,                        // leading space
		masterB64 + "x",                        // trailing junk
		strings.Repeat("A", 43) + "=" + strings.Repeat(" ", 2000) + "\n" + masterB64[:8], // oversized file
	}
	for _, v := range bad {
		visible := strings.TrimSpace(v)
		check := func(where string, err error, want string) {
			t.Helper()
			if err == nil {
				t.Errorf("%s: %q accepted", where, v)
				return
			}
			if err.Error() != want {
				t.Errorf("%s: %v, want %q", where, err, want)
			}
			if strings.Contains(err.Error(), visible) || strings.Contains(err.Error(), visible[:8]) {
				t.Errorf("%s: error contains the key material: %v", where, err)
			}
		}
		_, err := keyring.Load("", env(map[string]string{"MCRM_MASTER_KEY": v}))
		check("env", err, "keyring: MCRM_MASTER_KEY: "+msg)

		path := filepath.Join(t.TempDir(), "k")
		writeFile(t, path, v, 0o600)
		_, err = keyring.Load("", env(map[string]string{"MCRM_MASTER_KEY_FILE": path}))
		check("file env", err, "keyring: MCRM_MASTER_KEY_FILE: master key file "+path+": "+msg)

		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "master.key"), v, 0o600)
		_, err = keyring.Load(dir, env(nil))
		check("data dir", err, "keyring: master key file "+filepath.Join(dir, "master.key")+": "+msg)
	}

	// Trailing whitespace of any usual kind is fine.
	for _, v := range []string{masterB64, masterB64 + "\n", masterB64 + "\r\n", masterB64 + " \t\n\n"} {
		k, err := keyring.Load("", env(map[string]string{"MCRM_MASTER_KEY": v}))
		if err != nil || k.KeyID() != wantKeyID {
			t.Errorf("%q: %v", v, err)
		}
		path := filepath.Join(t.TempDir(), "k")
		writeFile(t, path, v, 0o600)
		k, err = keyring.Load("", env(map[string]string{"MCRM_MASTER_KEY_FILE": path}))
		if err != nil || k.KeyID() != wantKeyID || k.Source() != "file:"+path {
			t.Errorf("file %q: %v", v, err)
		}
	}
}

// --- Wycheproof ---

// sharedVectors finds shared/vectors beside the repository (../../shared from
// the package in /work/main, one level further from a worktree's), walking
// up from the package directory.
func sharedVectors(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "vectors")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("MCRM_ALLOW_SKIP") != "" {
		t.Skip("shared/vectors not found above the package directory")
	}
	t.Fatal("shared/vectors not found above the package directory (set MCRM_ALLOW_SKIP=1 to skip)")
	return ""
}

// TestWycheproofAESGCM runs the AES-256-GCM vectors with the parameters the
// sealer uses (96-bit nonce, 128-bit tag) through crypto/aes and
// cipher.NewGCM, and the decryptions also through
// cipher.NewGCMWithRandomNonce, the exact constructor of the sealer, which
// takes the nonce as a prefix of the ciphertext.
func TestWycheproofAESGCM(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(sharedVectors(t), "wycheproof", "aes_gcm_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			IVSize, KeySize, TagSize int
			Tests                    []struct {
				TcID                       int
				Key, IV, AAD, Msg, CT, Tag string
				Result                     string
			}
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	valid, invalid := 0, 0
	for _, g := range f.Groups {
		if g.IVSize != 96 || g.KeySize != 256 || g.TagSize != 128 {
			continue
		}
		for _, tc := range g.Tests {
			key, iv, aad, msg := unhex(t, tc.Key), unhex(t, tc.IV), unhex(t, tc.AAD), unhex(t, tc.Msg)
			sealed := append(unhex(t, tc.CT), unhex(t, tc.Tag)...)
			gcm := refGCM(t, key)
			block, err := aes.NewCipher(key)
			if err != nil {
				t.Fatal(err)
			}
			rgcm, err := cipher.NewGCMWithRandomNonce(block)
			if err != nil {
				t.Fatal(err)
			}
			pt, err := gcm.Open(nil, iv, sealed, aad)
			rpt, rerr := rgcm.Open(nil, nil, append(bytes.Clone(iv), sealed...), aad)
			switch tc.Result {
			case "valid":
				valid++
				if got := gcm.Seal(nil, iv, msg, aad); !bytes.Equal(got, sealed) {
					t.Errorf("tc %d: Seal = %x, want %x", tc.TcID, got, sealed)
				}
				if err != nil || !bytes.Equal(pt, msg) || rerr != nil || !bytes.Equal(rpt, msg) {
					t.Errorf("tc %d: Open = %x, %v / %x, %v; want %x", tc.TcID, pt, err, rpt, rerr, msg)
				}
			case "invalid":
				invalid++
				if err == nil || rerr == nil {
					t.Errorf("tc %d: invalid ciphertext opened", tc.TcID)
				}
			default:
				t.Fatalf("tc %d: result %q", tc.TcID, tc.Result)
			}
		}
	}
	// Pinned so a changed file or filter cannot quietly run nothing.
	if valid != 39 || invalid != 27 {
		t.Errorf("ran %d valid and %d invalid vectors, want 39 and 27", valid, invalid)
	}
}

// --- Benchmarks ---

func BenchmarkSeal(b *testing.B) {
	s := mustNew(b, master).Sealer()
	pt := bytes.Repeat([]byte{0x5a}, 64)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(ctx, katTenant, katAAD, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := mustNew(b, master).Sealer()
	pt := bytes.Repeat([]byte{0x5a}, 64)
	ct, err := s.Seal(ctx, katTenant, katAAD, pt)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(ctx, katTenant, katAAD, ct); err != nil {
			b.Fatal(err)
		}
	}
}
