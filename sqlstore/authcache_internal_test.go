package sqlstore

import (
	"testing"

	"mcrm"
)

func entryFor(tenant, user, session string) *authEntry {
	return &authEntry{s: &Session{Principal: mcrm.Principal{TenantID: tenant, UserID: user, SessionID: session}}}
}

// A fill that raced with an eviction is dropped only when the eviction
// concerns it: another tenant's revocation (which every PostgreSQL node
// hears) must not cost this tenant its cache hits.
func TestAuthCacheFillRacesOnlyRelevantEvictions(t *testing.T) {
	var c authCache
	e := entryFor("t1", "u1", "s1")

	epoch := c.epoch.Load()
	c.evict("t2", "s1", "")       // same session id, other tenant
	c.evict("t1", "", "u2")       // same tenant, other user
	c.evictToken("another-token") // another token
	c.put("h1", e, epoch)
	if c.get("h1") == nil {
		t.Fatal("unrelated evictions dropped the fill")
	}

	for _, ev := range []func(){
		func() { c.evict("t1", "s1", "") },
		func() { c.evict("t1", "", "u1") },
		func() { c.evictToken("h2") },
		func() { c.clear() },
	} {
		epoch := c.epoch.Load()
		ev()
		c.put("h2", entryFor("t1", "u1", "s1"), epoch)
		if c.get("h2") != nil {
			t.Fatal("a fill survived an eviction of its own session, user, token or everything")
		}
	}

	// More evictions than are remembered: drop, to be safe.
	epoch = c.epoch.Load()
	for range recentEvictions {
		c.evict("t9", "x", "")
	}
	c.put("h3", entryFor("t1", "u1", "s1"), epoch)
	if c.get("h3") != nil {
		t.Fatal("a fill was cached although the evictions since its read were forgotten")
	}
}
