package totp

import (
	"bytes"
	"encoding/csv"
	"image/png"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"mcrm"
)

// TestRFC6238Vectors runs every row of the RFC 6238 Appendix B table:
// the code at each instant for SHA-1, SHA-256 and SHA-512 with 8 digits,
// and that Verify accepts it at that instant and reports step T.
func TestRFC6238Vectors(t *testing.T) {
	f, err := os.Open("../../shared/vectors/rfc6238_totp.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "unix_time,utc,T_hex,mode,seed_ascii,totp_8_digits" {
		t.Fatalf("unexpected header %v", rows[0])
	}
	rows = rows[1:]
	if len(rows) != 18 {
		t.Fatalf("%d rows, want 18", len(rows))
	}
	algs := map[string]otp.Algorithm{"SHA1": otp.AlgorithmSHA1, "SHA256": otp.AlgorithmSHA256, "SHA512": otp.AlgorithmSHA512}
	for _, r := range rows {
		unix, _ := strconv.ParseInt(r[0], 10, 64)
		step, _ := strconv.ParseInt(r[2], 16, 64)
		alg, ok := algs[r[3]]
		if !ok {
			t.Fatalf("unknown mode %q", r[3])
		}
		p := Params{Period: 30 * time.Second, Digits: 8, Algorithm: alg}
		now := time.Unix(unix, 0).UTC()
		if got := now.Format("2006-01-02 15:04:05"); got != r[1] {
			t.Fatalf("row %v: utc %s", r, got)
		}
		if got := p.Step(now); got != step {
			t.Errorf("%s %s: step %d, want %d", r[0], r[3], got, step)
		}
		code, err := p.Code([]byte(r[4]), step)
		if err != nil || code != r[5] {
			t.Errorf("%s %s: code %q %v, want %s", r[0], r[3], code, err, r[5])
		}
		got, err := p.Verify([]byte(r[4]), r[5], now, 0)
		if err != nil || got != step {
			t.Errorf("%s %s: Verify = %d, %v; want %d", r[0], r[3], got, err, step)
		}
	}
}

func TestVerifyDriftAndReplay(t *testing.T) {
	secret := NewSecret()
	if len(secret) != 20 {
		t.Fatalf("secret is %d bytes", len(secret))
	}
	now := time.Unix(1_700_000_015, 0) // middle of a step
	T := Default.Step(now)
	code := func(s int64) string {
		c, err := Default.Code(secret, s)
		if err != nil || len(c) != 6 {
			t.Fatalf("code: %q %v", c, err)
		}
		return c
	}
	// One step either side is accepted and the matched step is returned.
	for _, d := range []int64{-1, 0, 1} {
		if got, err := Verify(secret, code(T+d), now, 0); err != nil || got != T+d {
			t.Errorf("drift %d: %d %v", d, got, err)
		}
	}
	// Two steps away is refused as invalid.
	for _, d := range []int64{-2, 2} {
		if _, err := Verify(secret, code(T+d), now, 0); FieldCode(err) != mcrm.CodeOTPInvalid || mcrm.ErrorCode(err) != mcrm.EUnauthorized {
			t.Errorf("drift %d accepted or wrong error: %v", d, err)
		}
	}
	// A code accepted once is a replay after, even within its window.
	s, err := Verify(secret, code(T), now, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{now, now.Add(29 * time.Second)} {
		if _, err := Verify(secret, code(T), at, s); FieldCode(err) != mcrm.CodeOTPReplay || mcrm.ErrorCode(err) != mcrm.EUnauthorized {
			t.Errorf("replay at %v: %v", at, err)
		}
	}
	// An older step than the last accepted one is a replay too.
	if _, err := Verify(secret, code(T-1), now, T); FieldCode(err) != mcrm.CodeOTPReplay {
		t.Errorf("older step: %v", err)
	}
	// The next step is still fine.
	if got, err := Verify(secret, code(T+1), now, T); err != nil || got != T+1 {
		t.Errorf("next step: %d %v", got, err)
	}
	// Malformed codes.
	for _, bad := range []string{"", "12345", "1234567", "12345a", "１２３４５６"} {
		if _, err := Verify(secret, bad, now, 0); FieldCode(err) != mcrm.CodeOTPInvalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// Another secret's code does not verify.
	other, _ := Default.Code(NewSecret(), T)
	if other != code(T) {
		if _, err := Verify(secret, other, now, 0); FieldCode(err) != mcrm.CodeOTPInvalid {
			t.Errorf("other secret: %v", err)
		}
	}
}

func TestURIAndQR(t *testing.T) {
	secret := []byte("12345678901234567890")
	uri, err := URI("mcrm Acme", "ada@example.com", secret)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/mcrm Acme:ada@example.com" {
		t.Fatalf("uri %s: %v", uri, err)
	}
	q := u.Query()
	if q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "mcrm Acme" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("query %v", q)
	}
	img, err := QRPNG(uri)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("not a PNG")
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width != 256 || cfg.Height != 256 {
		t.Fatalf("png %+v %v", cfg, err)
	}
	if _, err := QRPNG("https://example.com/"); err == nil {
		t.Fatal("non-otpauth URI rendered")
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := NewRecoveryCodes()
	if len(codes) != 10 {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		if len(c) != 23 || strings.Count(c, "-") != 3 || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		hashes[i] = RecoveryHash(c)
		if len(hashes[i]) != 64 || strings.Contains(hashes[i], NormalizeRecovery(c)) {
			t.Fatalf("hash %q", hashes[i])
		}
	}
	// Typed with spaces, upper case and look-alikes, it still matches.
	c := codes[3]
	typed := strings.ToUpper(strings.ReplaceAll(c, "-", " "))
	typed = strings.NewReplacer("1", "I", "0", "O").Replace(typed)
	if got := MatchRecovery(hashes, typed); got != 3 {
		t.Fatalf("typed %q matched %d", typed, got)
	}
	if got := MatchRecovery(hashes, c); got != 3 {
		t.Fatalf("exact matched %d", got)
	}
	for _, bad := range []string{"", "not-a-code", c[:22], c + "0", strings.Replace(c, c[:1], "u", 1)} {
		if got := MatchRecovery(hashes, bad); got != -1 {
			t.Errorf("%q matched %d", bad, got)
		}
	}
	if MatchRecovery(hashes, NewRecoveryCodes()[0]) != -1 {
		t.Fatal("fresh code matched")
	}
}
