package password

import (
	"errors"
	"strings"
	"testing"

	"mcrm"
)

// fieldCode returns the FieldError code of a policy refusal, "" for nil.
func fieldCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var e *mcrm.Error
	if !errors.As(err, &e) || e.Code != mcrm.EInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "password" {
		t.Fatalf("not a password field error: %#v", err)
	}
	return e.Fields[0].Code
}

func TestBlocklistIsEmbeddedAndLarge(t *testing.T) {
	if n := BlocklistSize(); n != 30000 {
		t.Fatalf("blocklist has %d entries, want 30000", n)
	}
	for _, w := range []string{"password", "123456", "qwerty", "letmein", "password1", "trustno1"} {
		if _, ok := blocklist()[w]; !ok {
			t.Errorf("%q missing from blocklist", w)
		}
	}
}

func TestCheckPolicy(t *testing.T) {
	mfa := PolicyContext{HasSecondFactor: true}
	only := PolicyContext{}
	passphrase := "Über den Wolken muss die Freiheit wohl grenzenlos sein ☁️ 日本語 ok" // 64 characters, spaces, non-Latin
	if n := len([]rune(Normalize(passphrase))); n != 64 {
		t.Fatalf("test passphrase has %d characters, want 64", n)
	}
	for _, c := range []struct {
		name string
		pw   string
		pc   PolicyContext
		want string
	}{
		{"common password with decoration", "Password1!", mfa, mcrm.CodePasswordBlocklisted},
		{"common password exact", "baseball", mfa, mcrm.CodePasswordBlocklisted},
		{"common word with digits and symbols around", "!!monkey2024", mfa, mcrm.CodePasswordBlocklisted},
		{"common with spaces inside", "pass word 123", mfa, mcrm.CodePasswordBlocklisted},
		{"full-width digits and letters normalise to a common one", "ｐａｓｓｗｏｒｄ１２３", mfa, mcrm.CodePasswordBlocklisted},
		{"7 characters", "xk3!q9z", mfa, mcrm.CodePasswordTooShort},
		{"8 characters with a second factor", "xk3!q9zb", mfa, ""},
		{"8 characters as the only factor", "xk3!q9zb", only, mcrm.CodePasswordTooShort},
		{"14 characters as the only factor", "vq8 tr4 mz2 wk", only, mcrm.CodePasswordTooShort},
		{"15 characters as the only factor", "vq8 tr4 mz2 wkp", only, ""},
		{"combining accents count once after NFKC", strings.Repeat("e\u0301", 7), mfa, mcrm.CodePasswordTooShort},
		{"64-character Unicode passphrase with spaces", passphrase, only, ""},
		{"MaxLength characters", strings.Repeat("abc def ", MaxLength/8), only, ""},
		{"MaxLength+1 characters", strings.Repeat("abc def ", MaxLength/8) + "d", only, mcrm.CodePasswordTooLong},
		{"huge input", strings.Repeat("é", 10*MaxLength), only, mcrm.CodePasswordTooLong},
		{"no composition rules: lower-case letters only", "glacier orbit lantern", only, ""},
		{"product name", "mcrm2024!", mfa, mcrm.CodePasswordBlocklisted},
		{"product name, any case", "MCRM-MCRM-MCRM", mfa, mcrm.CodePasswordBlocklisted},
		{"tenant name with digits", "AcmeCorp2024!", PolicyContext{HasSecondFactor: true, ContextWords: []string{"AcmeCorp"}}, mcrm.CodePasswordBlocklisted},
		{"tenant name plus a common password", "acmecorppassword", PolicyContext{HasSecondFactor: true, ContextWords: []string{"AcmeCorp"}}, mcrm.CodePasswordBlocklisted},
		{"email local part", "Ada.Lovelace1815", PolicyContext{HasSecondFactor: true, ContextWords: []string{"ada.lovelace"}}, mcrm.CodePasswordBlocklisted},
		{"part of the email local part", "lovelace!!1815", PolicyContext{HasSecondFactor: true, ContextWords: []string{"ada.lovelace"}}, mcrm.CodePasswordBlocklisted},
		{"long passphrase naming the tenant", "we sell anvils at acmecorp since 1949", PolicyContext{ContextWords: []string{"AcmeCorp"}}, ""},
		{"same password without that context word", "AcmeCorp2024!", mfa, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPolicy(c.pw, c.pc)
			if got := fieldCode(t, err); got != c.want {
				t.Fatalf("CheckPolicy = %q (%v), want %q", got, err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), c.pw) {
				t.Fatalf("error repeats the password: %v", err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	if Normalize("e\u0301") != "é" || Normalize("ﬁ") != "fi" || Normalize("plain ascii") != "plain ascii" {
		t.Fatal("NFKC not applied")
	}
}

// Repetitive and sequential passwords are refused whatever their length
// (NIST SP 800-63B §5.1.1.2); long passphrases with repeats are not.
func TestCheckPolicyTrivial(t *testing.T) {
	for _, pw := range []string{
		"aaaaaaaaaaaaaaa", "123456789012345", "1111111111111111", "passwordpassword",
		"passwordpassword123", "qwertyuiopasdfgh", "iloveyouiloveyou", "p@ssw0rdp@ssw0rd",
		"               ", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		"\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b",
		"abcabcabcabcabcabc", "abcdefghijklmnop",
	} {
		if got := fieldCode(t, CheckPolicy(pw, PolicyContext{})); got != mcrm.CodePasswordBlocklisted {
			t.Errorf("%q: %q, want %s", pw, got, mcrm.CodePasswordBlocklisted)
		}
	}
	for _, pw := range []string{
		"correct horse battery staple", "the the the quick brown fox", "Grüße aus Köln, 2026 — immer!",
		"tomato tomato potato potato",
	} {
		if err := CheckPolicy(pw, PolicyContext{}); err != nil {
			t.Errorf("%q refused: %v", pw, err)
		}
	}
}
