package risk

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"mcrm"
)

func fieldCode(err error) string {
	var me *mcrm.Error
	if errors.As(err, &me) && len(me.Fields) > 0 {
		return me.Fields[0].Code
	}
	if err != nil {
		return string(mcrm.ErrorCode(err))
	}
	return ""
}

func TestPolicyDefaults(t *testing.T) {
	p := DefaultPolicy()
	b, _ := json.Marshal(p)
	if string(b) != `{"low":"allow","medium":"require_mfa","high":"require_mfa"}` {
		t.Fatalf("json %s", b)
	}
	for l, want := range map[Level]Action{Low: Allow, Medium: RequireMFA, High: RequireMFA, "bogus": Deny} {
		if got := p.ActionFor(l); got != want {
			t.Errorf("%s → %s, want %s", l, got, want)
		}
	}
	// The zero Policy (a tenant that never set one) is the default.
	if (Policy{}).ActionFor(High) != RequireMFA || (Policy{}).ActionFor(Low) != Allow {
		t.Fatal("zero policy is not the default")
	}
}

func TestParsePolicy(t *testing.T) {
	cases := []struct {
		in   string
		want Policy
		code string
	}{
		{``, DefaultPolicy(), ""},
		{`{}`, DefaultPolicy(), ""},
		{`{"high":"deny"}`, Policy{Allow, RequireMFA, Deny}, ""},
		{`{"low":"require_mfa","medium":"require_mfa","high":"deny"}`, Policy{RequireMFA, RequireMFA, Deny}, ""},
		{`{"low":"deny","medium":"deny","high":"deny"}`, Policy{Deny, Deny, Deny}, ""},
		{`{"high":"allow"}`, Policy{}, "risk_policy_not_monotonic"},
		{`{"low":"allow","medium":"allow","high":"allow"}`, Policy{}, "risk_policy_too_weak"},
		{`{"medium":"deny","high":"require_mfa"}`, Policy{}, "risk_policy_not_monotonic"},
		{`{"low":"require_mfa","medium":"allow"}`, Policy{}, "risk_policy_not_monotonic"},
		{`{"medium":"block"}`, Policy{}, "invalid_risk_action"},
		{`{"hihg":"deny"}`, Policy{}, string(mcrm.EInvalid)},
		{`[1]`, Policy{}, string(mcrm.EInvalid)},
	}
	for _, c := range cases {
		p, err := ParsePolicy([]byte(c.in))
		if got := fieldCode(err); got != c.code || (c.code == "" && p != c.want) {
			t.Errorf("%s: %+v %v (code %q), want %+v %q", c.in, p, err, got, c.want, c.code)
		}
	}
	// An invalid policy that bypassed ParsePolicy fails closed.
	if (Policy{High: Allow, Medium: Allow}).ActionFor(Low) != Deny {
		t.Fatal("invalid policy must deny")
	}
}

func TestPolicyDecide(t *testing.T) {
	p := DefaultPolicy()
	for _, c := range []struct {
		level  Level
		factor bool
		want   Action
	}{
		{Low, true, Allow}, {Low, false, Allow},
		{Medium, true, RequireMFA}, {Medium, false, Deny},
		{High, true, RequireMFA}, {High, false, Deny},
	} {
		if got := p.Decide(Assessment{Level: c.level}, c.factor); got != c.want {
			t.Errorf("%s factor=%v: %s, want %s", c.level, c.factor, got, c.want)
		}
	}
	strict := Policy{High: Deny}
	if strict.Decide(Assessment{Level: High}, true) != Deny {
		t.Fatal("high deny")
	}
	// A low-risk login under a require_mfa-for-everyone policy goes to
	// the normal MFA flow (enrolment is the tenant's MFA policy's call).
	if (Policy{Low: RequireMFA}).Decide(Assessment{Level: Low}, false) != RequireMFA {
		t.Fatal("low require_mfa")
	}
}

func TestAssessmentJSON(t *testing.T) {
	e := newEval(t)
	a := e.Evaluate(nil, e.Observe(tenant, home, "", t0))
	b, _ := json.Marshal(a)
	if string(b) != `{"level":"medium","score":2,"signals":[{"name":"new_device","detail":"no device key presented"}]}` {
		t.Fatalf("%s", b)
	}
	b, _ = json.Marshal(e.Evaluate(daytime(e), e.Observe(tenant, home, "dev-a", t0)))
	if string(b) != `{"level":"low","score":0,"signals":[]}` {
		t.Fatalf("%s", b)
	}
}

func TestSessionIPChange(t *testing.T) {
	e := newEval(t)
	ip := netip.MustParseAddr
	now := t0
	cases := []struct {
		name      string
		prev, cur string
		ago       time.Duration
		signals   []string
		delta     int
		stepUp    bool
	}{
		{"same address", "198.51.100.7", "198.51.100.7", time.Minute, nil, 0, false},
		{"same network", "198.51.100.7", "198.51.100.99", time.Minute, nil, 0, false},
		{"carrier A to carrier B in one country", "198.51.100.7", "198.51.101.7", time.Minute, []string{SignalSessionIPChange}, 1, false},
		{"new country and new network within 10 min", "198.51.100.7", "192.0.2.7", 9 * time.Minute, []string{SignalSessionIPChange}, 1, true},
		{"new country exactly at 10 min", "198.51.100.7", "192.0.2.7", 10 * time.Minute, []string{SignalSessionIPChange}, 1, true},
		{"new country after a journey", "198.51.100.7", "192.0.2.7", 3 * time.Hour, []string{SignalSessionIPChange}, 1, false},
		{"to an untrusted address in the same network", "198.51.100.7", "198.51.100.201", time.Minute, []string{SignalUntrustedIP}, 4, true},
		{"unknown location", "198.51.100.7", "100.64.0.1", time.Minute, []string{SignalSessionIPChange}, 1, false},
		{"IPv4 to IPv6 of the same place", "198.51.100.7", "2001:db8::1", time.Minute, []string{SignalSessionIPChange}, 1, false},
		{"no previous address", "", "192.0.2.7", time.Minute, nil, 0, false},
		{"no previous address, untrusted new one", "", "198.51.100.201", time.Minute, []string{SignalUntrustedIP}, 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var prev netip.Addr
			if c.prev != "" {
				prev = ip(c.prev)
			}
			got := e.SessionIPChange(prev, now.Add(-c.ago), ip(c.cur), now)
			names := []string{}
			for _, s := range got.Signals {
				names = append(names, s.Name)
			}
			if c.signals == nil {
				c.signals = []string{}
			}
			if !reflect.DeepEqual(names, c.signals) || got.RiskDelta != c.delta || got.StepUp != c.stepUp {
				t.Fatalf("got %+v", got)
			}
		})
	}
	// Same country, other network and same ASN is still only a signal;
	// a new country on the same ASN (one provider's cross-border range)
	// is not a reason to step up.
	g := fakeGeo{
		netip.MustParsePrefix("198.51.100.0/24"): {Country: "DE", ASN: 64500},
		netip.MustParsePrefix("198.51.101.0/24"): {Country: "AT", ASN: 64500},
	}
	e2, _ := New(Config{HashKey: make([]byte, 32), Geo: g})
	if got := e2.SessionIPChange(ip("198.51.100.1"), now.Add(-time.Minute), ip("198.51.101.1"), now); got.StepUp || got.RiskDelta != 1 || got.Signals[0].Detail != "address changed from DE to AT" {
		t.Fatalf("same ASN across a border: %+v", got)
	}
}
