package sqlstore_test

import (
	"sync"
	"testing"
	"time"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/sqlstore"
)

func fieldCode(err error) string {
	if e, ok := err.(*mcrm.Error); ok && len(e.Fields) > 0 {
		return e.Fields[0].Code
	}
	return ""
}

func TestContractChallengeSingleUseAndExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		mk := func(id, user string) {
			t.Helper()
			if err := db.CreateChallenge(ctx, sqlstore.AuthChallenge{TenantID: f.tenant.ID, ID: id, UserID: user, Kind: "webauthn.get", Data: `{"x":1}`, ExpiresAt: t0.Add(5 * time.Minute)}, t0); err != nil {
				t.Fatal(err)
			}
		}
		mk("c1", f.rep1.UserID)
		mk("c2", "")
		// Wrong kind and wrong tenant do not consume it.
		if _, err := db.ConsumeChallenge(ctx, f.tenant.ID, "c1", "webauthn.create", t0); fieldCode(err) != "challenge_invalid" || code(err) != mcrm.EUnauthorized {
			t.Fatalf("wrong kind: %v", err)
		}
		if _, err := db.ConsumeChallenge(ctx, "other-tenant", "c1", "webauthn.get", t0); fieldCode(err) != "challenge_invalid" {
			t.Fatalf("wrong tenant: %v", err)
		}
		c, err := db.ConsumeChallenge(ctx, f.tenant.ID, "c1", "webauthn.get", t0.Add(time.Minute))
		if err != nil || c.UserID != f.rep1.UserID || c.Data != `{"x":1}` || !c.ExpiresAt.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("consume: %v %+v", err, c)
		}
		if _, err := db.ConsumeChallenge(ctx, f.tenant.ID, "c1", "webauthn.get", t0.Add(time.Minute)); fieldCode(err) != "challenge_invalid" {
			t.Fatalf("reuse: %v", err)
		}
		// Expired: at exactly expires_at it is no longer valid.
		if _, err := db.ConsumeChallenge(ctx, f.tenant.ID, "c2", "webauthn.get", t0.Add(5*time.Minute)); fieldCode(err) != "challenge_invalid" {
			t.Fatalf("expired: %v", err)
		}
		// Concurrent consumers: exactly one wins.
		mk("c3", "")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := db.ConsumeChallenge(ctx, f.tenant.ID, "c3", "webauthn.get", t0); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("concurrent consumers: %d won, want 1", wins)
		}
		n, err := db.PurgeChallenges(ctx, t0.Add(6*time.Minute))
		if err != nil || n != 3 {
			t.Fatalf("purge: %d %v", n, err)
		}
	})
}

func TestContractWebAuthnCredentials(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		c := sqlstore.WebAuthnCredential{TenantID: f.tenant.ID, ID: "k1", UserID: f.rep1.UserID, CredentialID: "AAEC", Name: "Phone", Data: `{"id":"AAEC"}`, SignCount: 5, CreatedAt: t0}
		ev := sqlstore.Event{TenantID: f.tenant.ID, Actor: f.rep1.UserID, Action: "authn_passkey_registered", Object: "webauthn_credentials/k1", Outcome: "success"}
		if err := db.AddWebAuthnCredential(ctx, c, ev); err != nil {
			t.Fatal(err)
		}
		// The same credential id for another user of the tenant is refused.
		c2 := c
		c2.ID, c2.UserID = "k2", f.rep2.UserID
		if err := db.AddWebAuthnCredential(ctx, c2, ev); code(err) != mcrm.EConflict || fieldCode(err) != "credential_exists" {
			t.Fatalf("duplicate credential id: %v", err)
		}
		if n, _ := db.CountEvents(ctx, f.tenant.ID, "authn_passkey_registered"); n != 1 {
			t.Fatalf("registered events = %d, want 1", n)
		}
		list, err := db.WebAuthnCredentials(ctx, f.tenant.ID, f.rep1.UserID)
		if err != nil || len(list) != 1 || list[0].CredentialID != "AAEC" || list[0].SignCount != 5 || list[0].BackupEligible || !list[0].CreatedAt.Equal(t0) || !list[0].LastUsedAt.IsZero() {
			t.Fatalf("list: %v %+v", err, list)
		}
		got, err := db.WebAuthnCredentialByCredentialID(ctx, f.tenant.ID, "AAEC")
		if err != nil || got.ID != "k1" || got.UserID != f.rep1.UserID {
			t.Fatalf("by credential id: %v %+v", err, got)
		}
		if _, err := db.WebAuthnCredentialByCredentialID(ctx, "other", "AAEC"); code(err) != mcrm.ENotFound {
			t.Fatalf("other tenant: %v", err)
		}
		// Compare-and-swap on the counter: a stale previous count loses.
		if err := db.RecordWebAuthnUse(ctx, f.tenant.ID, "k1", 5, 6, `{"id":"AAEC","n":6}`, t0.Add(time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordWebAuthnUse(ctx, f.tenant.ID, "k1", 5, 7, `{}`, t0.Add(time.Hour), nil); code(err) != mcrm.EUnauthorized {
			t.Fatalf("stale counter: %v", err)
		}
		got, _ = db.WebAuthnCredentialByCredentialID(ctx, f.tenant.ID, "AAEC")
		if got.SignCount != 6 || got.Data != `{"id":"AAEC","n":6}` || !got.LastUsedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after use: %+v", got)
		}
		clone := sqlstore.Event{TenantID: f.tenant.ID, Actor: f.rep1.UserID, Action: "authn_authenticator_clone_suspected", Object: "webauthn_credentials/k1", Outcome: "failure"}
		if err := db.FlagWebAuthnClone(ctx, f.tenant.ID, "k1", `{"cloned":true}`, clone); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.CountEvents(ctx, f.tenant.ID, "authn_authenticator_clone_suspected"); n != 1 {
			t.Fatalf("clone events = %d, want 1", n)
		}
		got, _ = db.WebAuthnCredentialByCredentialID(ctx, f.tenant.ID, "AAEC")
		if got.SignCount != 6 || got.Data != `{"cloned":true}` {
			t.Fatalf("after flag: %+v", got)
		}
		// Another user cannot delete it; the owner can.
		del := sqlstore.Event{TenantID: f.tenant.ID, Action: "authn_passkey_deleted", Outcome: "success"}
		if err := db.DeleteWebAuthnCredential(ctx, f.tenant.ID, f.rep2.UserID, "k1", del); code(err) != mcrm.ENotFound {
			t.Fatalf("delete by other: %v", err)
		}
		if err := db.DeleteWebAuthnCredential(ctx, f.tenant.ID, f.rep1.UserID, "k1", del); err != nil {
			t.Fatal(err)
		}
		if list, _ := db.WebAuthnCredentials(ctx, f.tenant.ID, f.rep1.UserID); len(list) != 0 {
			t.Fatalf("after delete: %+v", list)
		}
	})
}
