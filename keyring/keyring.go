// Package keyring holds the server's local key material until a fuller
// data-protection layer arrives.
//
// There is one 32-byte master key. It comes from a secret manager through
// MCRM_MASTER_KEY_FILE (a mounted file, so the key never shows in the
// process environment or in arguments), from MCRM_MASTER_KEY, or from
// master.key in the data directory, which is generated on the first start.
// A single-binary install thus protects data at rest with no setup, and a
// larger deployment moves the key out of the data directory (and out of its
// backups) without code changes.
//
// Nothing uses the master key directly. Each use gets its own subkey by
// HKDF-SHA256 with a purpose label (Derive: HMAC keys for login throttling,
// risk hashes, DPoP nonces; Sealer: one AES-256-GCM data key per tenant), so
// a key leaked or misused in one place reveals nothing about the others, and
// a ciphertext or MAC from one purpose is useless in another.
//
// Every sealed value carries the id of the key that sealed it. That is the
// hook for what comes next: envelope encryption with data keys wrapped by
// an external root key, and key rotation. Rotation is not yet supported:
// there is exactly one master key, changing it makes every sealed value
// unreadable and every derived HMAC key different, so master.key must be
// backed up and kept for the lifetime of the data.
package keyring

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"mcrm"
)

// Where Load looks for the master key, in this order.
const (
	EnvMasterKeyFile = "MCRM_MASTER_KEY_FILE"
	EnvMasterKey     = "MCRM_MASTER_KEY"
	MasterKeyFile    = "master.key" // in the data directory
)

// KeySize is the length of the master key and of every subkey.
const KeySize = 32

// ErrCannotOpen is the only error Open reports for a bad ciphertext, whatever
// the cause (tampering, wrong tenant or aad, unknown key or format), so the
// error can go to logs without revealing which check failed or anything about
// the value or the key.
var ErrCannotOpen = errors.New("keyring: cannot open value")

var errNoTenant = errors.New("keyring: empty tenant id")

// errBadKey never includes the value: the value may be the key with a typo.
var errBadKey = errors.New("not a master key: want 32 random bytes in standard base64 (44 characters), e.g. the output of: openssl rand -base64 32")

const (
	keyIDInfo     = "mcrm key id"
	purposePrefix = "mcrm/v1/"
	sealPurpose   = "seal/"

	formatVersion = 1
	keyIDLen      = 4
	headerLen     = 1 + keyIDLen

	// maxKeyFile bounds what Load reads: a key file is 44 bytes and a
	// newline, so anything much larger is a misconfigured path.
	maxKeyFile = 1024
)

// Keyring is the master key and what is derived from it. It is safe for
// concurrent use. Its String and Format print only the key id and the
// source, so a Keyring logged by mistake does not leak the key.
type Keyring struct {
	master [KeySize]byte
	id     [keyIDLen]byte
	source string
	sealer *sealer
}

// New returns a Keyring for the given 32-byte master key (tests, tools).
// The key is copied. Its Source is "memory".
func New(master []byte) (*Keyring, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("keyring: master key is %d bytes, want %d", len(master), KeySize)
	}
	var k [KeySize]byte
	copy(k[:], master)
	return newKeyring(k, "memory"), nil
}

func newKeyring(master [KeySize]byte, source string) *Keyring {
	k := &Keyring{master: master, source: source}
	// The id is a hash of a derived value, never of the key itself, so
	// printing it in logs and storing it in every ciphertext is harmless.
	h := sha256.Sum256(k.derive(keyIDInfo))
	copy(k.id[:], h[:keyIDLen])
	k.sealer = &sealer{k: k}
	return k
}

// Load finds the master key: the file named by MCRM_MASTER_KEY_FILE, else
// MCRM_MASTER_KEY, else dataDir/master.key, which is created with a fresh
// random key if it does not exist. Key files must not be accessible to group
// or others. getenv is os.Getenv when nil.
func Load(dataDir string, getenv func(string) string) (*Keyring, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if path := getenv(EnvMasterKeyFile); path != "" {
		key, err := readKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("keyring: %s: %w", EnvMasterKeyFile, err)
		}
		return newKeyring(key, "file:"+path), nil
	}
	if v := getenv(EnvMasterKey); v != "" {
		key, err := parseKey([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("keyring: %s: %w", EnvMasterKey, err)
		}
		return newKeyring(key, "env"), nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("keyring: no master key: set %s or %s, or give a data directory", EnvMasterKeyFile, EnvMasterKey)
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	key, err := readKeyFile(path)
	if err == nil {
		return newKeyring(key, "file:"+path), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	key, generated, err := generateKeyFile(dataDir, path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !generated {
		return newKeyring(key, "file:"+path), nil
	}
	return newKeyring(key, "generated:"+path), nil
}

// readKeyFile checks the mode on the open file, not on the path, so the file
// that is read is the file that was checked.
func readKeyFile(path string) ([KeySize]byte, error) {
	var key [KeySize]byte
	f, err := os.Open(path)
	if err != nil {
		return key, err // *fs.PathError: names the path, carries no content
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return key, err
	}
	// Windows has no such mode bits (Go reports 0666 or 0444 there); its
	// ACLs are the operator's business.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return key, fmt.Errorf("master key file %s is accessible to group or others (mode %04o); restrict it with chmod 600", path, perm)
	}
	buf, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	defer clear(buf)
	if err != nil {
		return key, fmt.Errorf("read master key file %s: %w", path, err)
	}
	if len(buf) > maxKeyFile {
		return key, fmt.Errorf("master key file %s: %w", path, errBadKey)
	}
	key, err = parseKey(buf)
	if err != nil {
		return key, fmt.Errorf("master key file %s: %w", path, err)
	}
	return key, nil
}

// parseKey accepts exactly one encoding (strict standard base64 with
// padding, trailing whitespace allowed), so a key has one spelling and a
// hex or URL-safe key is refused instead of being misread.
func parseKey(b []byte) ([KeySize]byte, error) {
	var key [KeySize]byte
	s := bytes.TrimRight(b, " \t\r\n\v\f")
	if len(s) != base64.StdEncoding.EncodedLen(KeySize) {
		return key, errBadKey
	}
	var buf [KeySize + 1]byte // DecodedLen(44) is 33
	defer clear(buf[:])
	// StdEncoding skips \r and \n anywhere, so a key with an embedded
	// newline decodes short and fails the length check.
	n, err := base64.StdEncoding.Strict().Decode(buf[:], s)
	if err != nil || n != KeySize {
		return key, errBadKey // the decoder's error would give an offset into the key
	}
	copy(key[:], buf[:n])
	return key, nil
}

// generateKeyFile writes the key to a private temporary file, syncs it, and
// only then links it into place. A crash therefore never leaves a partial
// master.key that would stop the next start, and when two processes start at
// once on an empty data directory the link lets exactly one win; the other
// reads the winner's key (reported as generated == false).
func generateKeyFile(dataDir, path string) (key [KeySize]byte, generated bool, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return key, false, err
	}
	rand.Read(key[:])
	enc := []byte(base64.StdEncoding.EncodeToString(key[:]) + "\n")
	defer clear(enc)

	// CreateTemp opens with O_CREATE|O_EXCL and mode 0600.
	tmp, err := os.CreateTemp(dataDir, "."+MasterKeyFile+".tmp-*")
	if err != nil {
		return key, false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(enc); err != nil {
		tmp.Close()
		return key, false, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return key, false, fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return key, false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			key, err = readKeyFile(path)
			return key, false, err
		}
		return key, false, fmt.Errorf("create %s: %w", path, err)
	}
	// Without the directory sync a crash could lose the new name after data
	// was already sealed under the key; the next start would then generate
	// another key and the data would be unreadable.
	if err := syncDir(dataDir); err != nil {
		return key, false, err
	}
	return key, true, nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Source says where the master key came from: "env", "file:<path>",
// "generated:<path>" (created by this Load), or "memory" (New).
func (k *Keyring) Source() string { return k.source }

// KeyID is the master key's id in hex (8 characters), the same 4 bytes every
// sealed value carries. It identifies the key in logs without revealing it.
func (k *Keyring) KeyID() string { return hex.EncodeToString(k.id[:]) }

// String prints the id and source, never the key.
func (k *Keyring) String() string {
	return fmt.Sprintf("keyring(id=%s, source=%s)", k.KeyID(), k.source)
}

// Format makes every fmt verb (%x and %d included, which would otherwise
// print the struct's bytes) print String.
func (k *Keyring) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// Derive returns a 32-byte subkey for purpose: HKDF-SHA256 of the master
// key with info "mcrm/v1/"+purpose. The same purpose always gives the same
// key, so purposes are fixed names in code ("login-throttle", "risk-hash",
// "dpop-nonce"); changing one changes the key.
//
// Derive panics on an empty purpose and on purposes starting with "seal/",
// which name the tenants' data keys: handing one out as an HMAC key would
// put an encryption key where it may be logged or shared.
func (k *Keyring) Derive(purpose string) []byte {
	if purpose == "" || strings.HasPrefix(purpose, sealPurpose) {
		panic(fmt.Sprintf("keyring: purpose %q is reserved", purpose))
	}
	return k.derive(purposePrefix + purpose)
}

// derive uses no salt: the master key is already uniformly random, which is
// the case RFC 5869 section 3.1 allows it for.
func (k *Keyring) derive(info string) []byte {
	out, err := hkdf.Key(sha256.New, k.master[:], nil, info, KeySize)
	if err != nil {
		// Only reachable for key lengths HKDF cannot produce or, in FIPS
		// 140-only mode, for short secrets; neither happens here.
		panic("keyring: hkdf: " + err.Error())
	}
	return out
}

// Sealer returns the keyring's at-rest encryption: AES-256-GCM under a data
// key per tenant (HKDF of the master key with info
// "mcrm/v1/seal/"+tenantID). A sealed value is
//
//	version (1) || key id (4) || nonce (12) || ciphertext || tag (16)
//
// and the GCM associated data is the tenant id, length-prefixed (4 bytes,
// big-endian), followed by the caller's aad. The data keys already differ
// per tenant; binding the tenant in the associated data as well means a value
// only opens for its tenant even if the key hierarchy changes.
//
// Nonces are random, so a tenant's key should seal fewer than 2^32 values
// (NIST SP 800-38D) before rotation exists to replace it.
func (k *Keyring) Sealer() mcrm.Sealer { return k.sealer }

type sealer struct {
	k *Keyring
	// aeads caches one cipher.AEAD per tenant id, so Seal and Open pay for
	// HKDF and the AES key schedule once per tenant, not once per value.
	aeads sync.Map
}

func (s *sealer) aead(tenantID string) cipher.AEAD {
	if a, ok := s.aeads.Load(tenantID); ok {
		return a.(cipher.AEAD)
	}
	key := s.k.derive(purposePrefix + sealPurpose + tenantID)
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("keyring: " + err.Error()) // a 32-byte key is always valid
	}
	// NewGCMWithRandomNonce writes nonce || ciphertext || tag, the layout
	// above, draws the 96-bit nonce itself, and unlike NewGCM is allowed in
	// FIPS 140-only mode.
	a, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic("keyring: " + err.Error()) // block is always an AES block
	}
	actual, _ := s.aeads.LoadOrStore(tenantID, a)
	return actual.(cipher.AEAD)
}

func bindTenant(tenantID string, aad []byte) []byte {
	out := make([]byte, 4, 4+len(tenantID)+len(aad))
	binary.BigEndian.PutUint32(out, uint32(len(tenantID)))
	out = append(out, tenantID...)
	return append(out, aad...)
}

// Seal encrypts plaintext for tenantID, bound to aad (see mcrm.AAD).
func (s *sealer) Seal(_ context.Context, tenantID string, aad, plaintext []byte) ([]byte, error) {
	if tenantID == "" {
		return nil, errNoTenant
	}
	a := s.aead(tenantID)
	out := make([]byte, headerLen, headerLen+len(plaintext)+a.Overhead())
	out[0] = formatVersion
	copy(out[1:headerLen], s.k.id[:])
	return a.Seal(out, nil, plaintext, bindTenant(tenantID, aad)), nil
}

// Open decrypts a value sealed for tenantID with the same aad. Every failure
// is ErrCannotOpen.
func (s *sealer) Open(_ context.Context, tenantID string, aad, ciphertext []byte) ([]byte, error) {
	if tenantID == "" {
		return nil, errNoTenant
	}
	if len(ciphertext) < headerLen || ciphertext[0] != formatVersion || !bytes.Equal(ciphertext[1:headerLen], s.k.id[:]) {
		return nil, ErrCannotOpen
	}
	a := s.aead(tenantID)
	if len(ciphertext) < headerLen+a.Overhead() {
		return nil, ErrCannotOpen
	}
	pt, err := a.Open(nil, nil, ciphertext[headerLen:], bindTenant(tenantID, aad))
	if err != nil {
		return nil, ErrCannotOpen
	}
	return pt, nil
}
