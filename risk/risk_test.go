package risk

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeGeo maps networks to locations.
type fakeGeo map[netip.Prefix]Location

func (g fakeGeo) Lookup(ip netip.Addr) (Location, bool) {
	for p, l := range g {
		if p.Contains(ip.Unmap()) {
			return l, true
		}
	}
	return Location{}, false
}

var (
	frankfurt  = Location{Country: "DE", HasCoords: true, Lat: 50.1109, Lon: 8.6821, RadiusKm: 20, ASN: 3320}
	frankfurt2 = Location{Country: "DE", HasCoords: true, Lat: 50.1109, Lon: 8.6821, RadiusKm: 20, ASN: 3209}
	munich     = Location{Country: "DE", HasCoords: true, Lat: 48.1351, Lon: 11.5820, RadiusKm: 20, ASN: 3320}
	beijing    = Location{Country: "CN", HasCoords: true, Lat: 39.9042, Lon: 116.4074, RadiusKm: 50, ASN: 4134}
	strasbourg = Location{Country: "FR", HasCoords: true, Lat: 48.5734, Lon: 7.7521, RadiusKm: 20, ASN: 3215}

	geo = fakeGeo{
		netip.MustParsePrefix("198.51.100.0/24"): frankfurt,  // home network
		netip.MustParsePrefix("198.51.101.0/24"): frankfurt2, // other carrier, same city
		netip.MustParsePrefix("198.51.102.0/24"): munich,
		netip.MustParsePrefix("203.0.113.0/24"):  beijing,
		netip.MustParsePrefix("192.0.2.0/24"):    strasbourg,
		netip.MustParsePrefix("2001:db8::/32"):   frankfurt,
	}
	home = netip.MustParseAddr("198.51.100.7")
)

const tenant = "01TENANT"

func newEval(t *testing.T) *Evaluator {
	t.Helper()
	e, err := New(Config{
		HashKey:   []byte("0123456789abcdef0123456789abcdef"),
		Geo:       geo,
		Untrusted: []netip.Prefix{netip.MustParsePrefix("198.51.100.200/29"), netip.MustParsePrefix("2001:db8:bad::/48")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// t0 is a Wednesday 14:00 UTC.
var t0 = time.Date(2026, 11, 4, 14, 0, 0, 0, time.UTC)

// past returns a successful history login.
func past(e *Evaluator, ip, device string, at time.Time) Login {
	l := e.Observe(tenant, netip.MustParseAddr(ip), device, at)
	l.IP = netip.Addr{} // as loaded from the store
	l.Outcome = OutcomeSuccess
	return l
}

// daytime is 12 successful logins from home on device "dev-a", one a day,
// at hours 08..19 UTC (08:00–20:00 working day).
func daytime(e *Evaluator) []Login {
	var h []Login
	for i := 0; i < 12; i++ {
		at := t0.AddDate(0, 0, -(i + 1)).Truncate(24 * time.Hour).Add(time.Duration(8+i) * time.Hour).Add(15 * time.Minute)
		h = append(h, past(e, "198.51.100.7", "dev-a", at))
	}
	return h
}

func TestEvaluateAUTH15(t *testing.T) {
	e := newEval(t)
	beijingAt := t0.Add(-time.Hour)
	cases := []struct {
		name    string
		history []Login
		ip      string
		device  string
		at      time.Time
		level   Level
		signals []Signal
	}{
		{
			name: "Beijing at T then Frankfurt at T+1h",
			history: append(daytime(e),
				past(e, "203.0.113.9", "dev-a", beijingAt)),
			ip: "198.51.100.7", device: "dev-a", at: t0,
			level:   High,
			signals: []Signal{{SignalImpossibleTravel, "CN to DE: 7781 km in 1h0m0s, over 900 km/h"}},
		},
		{
			name:    "Beijing only history, then Frankfurt an hour later",
			history: []Login{past(e, "203.0.113.9", "dev-a", beijingAt)},
			ip:      "198.51.100.7", device: "dev-a", at: t0,
			level: High,
			signals: []Signal{
				{SignalImpossibleTravel, "CN to DE: 7781 km in 1h0m0s, over 900 km/h"},
				{SignalNewCountry, "first login from DE"},
				{SignalNewNetwork, "network not seen for this user"},
			},
		},
		{
			name:    "first login from a new device key",
			history: daytime(e),
			ip:      "198.51.100.7", device: "dev-b", at: t0,
			level:   Medium,
			signals: []Signal{{SignalNewDevice, "device key not seen for this user"}},
		},
		{
			name:    "03:00 when the 90-day history is 08:00-20:00",
			history: daytime(e),
			ip:      "198.51.100.7", device: "dev-a", at: time.Date(2026, 11, 4, 3, 0, 0, 0, time.UTC),
			level:   Low,
			signals: []Signal{{SignalUnusualHour, "login at 03:00 local, usual hours 08:00–19:59 over 12 logins"}},
		},
		{
			name:    "IP on the threat-intel list",
			history: daytime(e),
			ip:      "198.51.100.201", device: "dev-a", at: t0,
			level:   High,
			signals: []Signal{{SignalUntrustedIP, "address is on the operator's untrusted list"}},
		},
		{
			name:    "IPv6 on the threat-intel list",
			history: daytime(e),
			ip:      "2001:db8:bad::1", device: "dev-a", at: t0,
			level: High,
			signals: []Signal{
				{SignalUntrustedIP, "address is on the operator's untrusted list"},
				{SignalNewNetwork, "network not seen for this user"},
			},
		},
		{
			name:    "usual login",
			history: daytime(e),
			ip:      "198.51.100.99", device: "dev-a", at: t0,
			level:   Low,
			signals: []Signal{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := e.Observe(tenant, netip.MustParseAddr(c.ip), c.device, c.at)
			a := e.Evaluate(c.history, cur)
			if a.Level != c.level || !reflect.DeepEqual(a.Signals, c.signals) {
				t.Fatalf("got %s %#v, want %s %#v", a.Level, a.Signals, c.level, c.signals)
			}
		})
	}
}

func TestEvaluateRules(t *testing.T) {
	e := newEval(t)
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	run := func(history []Login, cur Login) []string { return e.Evaluate(history, cur).Names() }
	eq := func(t *testing.T, got []string, want ...string) {
		t.Helper()
		if want == nil {
			want = []string{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("signals %q, want %q", got, want)
		}
	}

	t.Run("first login ever is new_device only", func(t *testing.T) {
		a := e.Evaluate(nil, e.Observe(tenant, home, "dev-a", t0))
		if a.Level != Medium || a.Score != 2 || !reflect.DeepEqual(a.Names(), []string{SignalNewDevice}) {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("no device key is never a known device", func(t *testing.T) {
		a := e.Evaluate(daytime(e), e.Observe(tenant, home, "", t0))
		if a.Level != Medium || !reflect.DeepEqual(a.Signals, []Signal{{SignalNewDevice, "no device key presented"}}) {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("failed and pending logins do not make a device known", func(t *testing.T) {
		h := daytime(e)
		for _, o := range []Outcome{OutcomeFailure, OutcomeMFARequired, OutcomeDenied} {
			l := past(e, "198.51.100.7", "attacker", t0.Add(-time.Hour))
			l.Outcome = o
			h = append(h, l)
		}
		eq(t, run(h, e.Observe(tenant, home, "attacker", t0)), SignalNewDevice)
	})
	t.Run("history older than 90 days is forgotten", func(t *testing.T) {
		h := []Login{past(e, "198.51.100.7", "dev-a", t0.Add(-91*24*time.Hour))}
		a := e.Evaluate(h, e.Observe(tenant, home, "dev-a", t0))
		// Nothing within the window: the same as a first login.
		eq(t, a.Names(), SignalNewDevice)
	})
	t.Run("history after the current login is ignored", func(t *testing.T) {
		h := []Login{past(e, "198.51.100.7", "dev-a", t0.Add(time.Minute))}
		eq(t, run(h, e.Observe(tenant, home, "dev-a", t0)), SignalNewDevice)
	})
	t.Run("new device in a new country is high", func(t *testing.T) {
		a := e.Evaluate(daytime(e), e.Observe(tenant, ip("192.0.2.5"), "dev-x", t0.Add(48*time.Hour)))
		if a.Level != High || a.Score != 5 || !reflect.DeepEqual(a.Names(), []string{SignalNewDevice, SignalNewCountry, SignalNewNetwork}) {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("new network at an unusual hour is medium", func(t *testing.T) {
		a := e.Evaluate(daytime(e), e.Observe(tenant, ip("198.51.101.1"), "dev-a", time.Date(2026, 11, 4, 2, 30, 0, 0, time.UTC)))
		if a.Level != Medium || a.Score != 2 || !reflect.DeepEqual(a.Names(), []string{SignalNewNetwork, SignalUnusualHour}) {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("another /24 is a new network, another address in the /24 is not", func(t *testing.T) {
		eq(t, run(daytime(e), e.Observe(tenant, ip("198.51.100.250"), "dev-a", t0)))
		eq(t, run(daytime(e), e.Observe(tenant, ip("198.51.101.250"), "dev-a", t0)), SignalNewNetwork)
	})
	t.Run("IPv6 networks are /48", func(t *testing.T) {
		h := []Login{past(e, "2001:db8:1:1::5", "dev-a", t0.Add(-time.Hour))}
		eq(t, run(h, e.Observe(tenant, ip("2001:db8:1:ffff::9"), "dev-a", t0)))
		eq(t, run(h, e.Observe(tenant, ip("2001:db8:2::9"), "dev-a", t0)), SignalNewNetwork)
	})
	t.Run("IPv4-mapped IPv6 is the IPv4 address", func(t *testing.T) {
		eq(t, run(daytime(e), e.Observe(tenant, ip("::ffff:198.51.100.7"), "dev-a", t0)))
	})
	t.Run("Frankfurt to Munich in an hour is possible", func(t *testing.T) {
		h := []Login{past(e, "198.51.102.1", "dev-a", t0.Add(-time.Hour))}
		eq(t, run(h, e.Observe(tenant, home, "dev-a", t0)), SignalNewNetwork)
	})
	t.Run("Frankfurt to Strasbourg in a minute is under the minimum distance", func(t *testing.T) {
		// ~180 km: GeoIP noise, not travel.
		h := []Login{past(e, "192.0.2.1", "dev-a", t0.Add(-time.Minute))}
		eq(t, run(h, e.Observe(tenant, home, "dev-a", t0)), SignalNewCountry, SignalNewNetwork)
	})
	t.Run("Beijing to Frankfurt in 9 hours is a flight", func(t *testing.T) {
		h := []Login{past(e, "198.51.100.7", "dev-a", t0.Add(-30*24*time.Hour)), past(e, "203.0.113.1", "dev-a", t0.Add(-9*time.Hour))}
		eq(t, run(h, e.Observe(tenant, home, "dev-a", t0)))
	})
	t.Run("impossible travel compares with the latest located login", func(t *testing.T) {
		h := []Login{past(e, "203.0.113.1", "dev-a", t0.Add(-time.Hour)), past(e, "198.51.100.7", "dev-a", t0.Add(-30*time.Minute))}
		eq(t, run(h, e.Observe(tenant, home, "dev-a", t0)))
	})
	t.Run("simultaneous logins far apart are impossible", func(t *testing.T) {
		h := []Login{past(e, "198.51.100.7", "dev-a", t0)}
		eq(t, run(h, e.Observe(tenant, ip("203.0.113.1"), "dev-a", t0)), SignalImpossibleTravel, SignalNewCountry, SignalNewNetwork)
	})
	t.Run("unusual hour needs 10 logins", func(t *testing.T) {
		at := time.Date(2026, 11, 4, 3, 0, 0, 0, time.UTC)
		eq(t, run(daytime(e)[:9], e.Observe(tenant, home, "dev-a", at)))
		eq(t, run(daytime(e)[:10], e.Observe(tenant, home, "dev-a", at)), SignalUnusualHour)
	})
	t.Run("unusual hour has a one-hour margin", func(t *testing.T) {
		h := daytime(e) // 08:15..19:15
		for hour, want := range map[int]bool{6: true, 7: false, 19: false, 20: false, 21: true} {
			got := e.Evaluate(h, e.Observe(tenant, home, "dev-a", time.Date(2026, 11, 4, hour, 30, 0, 0, time.UTC))).Has(SignalUnusualHour)
			if got != want {
				t.Errorf("%02d:30 unusual=%v, want %v", hour, got, want)
			}
		}
	})
	t.Run("unusual hour follows the user's zone and wraps midnight", func(t *testing.T) {
		ny, err := time.LoadLocation("America/New_York")
		if err != nil {
			t.Skip("no tzdata")
		}
		// Night shift 22:00–05:00 New York time.
		var h []Login
		for i := 0; i < 12; i++ {
			local := time.Date(2026, 10, 1+i, 22+i%8, 10, 0, 0, ny)
			h = append(h, past(e, "198.51.100.7", "dev-a", local))
		}
		check := func(local time.Time, want bool) {
			t.Helper()
			cur := e.Observe(tenant, home, "dev-a", local)
			cur.Zone = ny
			if got := e.Evaluate(h, cur).Has(SignalUnusualHour); got != want {
				t.Errorf("%s unusual=%v, want %v", local.Format("15:04 MST"), got, want)
			}
		}
		check(time.Date(2026, 10, 20, 2, 0, 0, 0, ny), false)
		check(time.Date(2026, 10, 20, 23, 0, 0, 0, ny), false)
		check(time.Date(2026, 10, 20, 13, 0, 0, 0, ny), true)
		// 02:00 New York is 06:00 UTC: in UTC the same history would
		// not cover it the same way, so the zone matters.
	})
	t.Run("history without countries: installing a GeoIP database is not new_country", func(t *testing.T) {
		e0, _ := New(Config{HashKey: []byte("0123456789abcdef0123456789abcdef")})
		h := []Login{past(e0, "198.51.100.7", "dev-a", t0.Add(-48*time.Hour))}
		eq(t, run(h, e.Observe(tenant, home, "dev-a", t0)))
		// and once a located login exists, a new country counts.
		h = append(h, past(e, "198.51.100.7", "dev-a", t0.Add(-24*time.Hour)))
		eq(t, run(h, e.Observe(tenant, ip("192.0.2.1"), "dev-a", t0)), SignalNewCountry, SignalNewNetwork)
	})
	t.Run("no geo database: no geographic signals", func(t *testing.T) {
		e2, _ := New(Config{HashKey: make([]byte, 32)})
		h := []Login{past(e2, "198.51.100.7", "dev-a", t0.Add(-time.Hour))}
		eq(t, e2.Evaluate(h, e2.Observe(tenant, ip("203.0.113.1"), "dev-a", t0)).Names(), SignalNewNetwork)
	})
}

func TestObserveHashes(t *testing.T) {
	e := newEval(t)
	a := e.Observe(tenant, netip.MustParseAddr("198.51.100.7"), "d", t0)
	b := e.Observe(tenant, netip.MustParseAddr("198.51.100.8"), "d", t0)
	other := e.Observe("01OTHER", netip.MustParseAddr("198.51.100.7"), "d", t0)
	if a.IPHash == b.IPHash || a.Network != b.Network {
		t.Fatalf("same /24 must share the network hash only: %+v %+v", a, b)
	}
	if a.IPHash == other.IPHash || a.Network == other.Network {
		t.Fatal("hashes must differ between tenants")
	}
	if len(a.IPHash) != 22 || len(a.Network) != 22 {
		t.Fatalf("hash lengths %d %d", len(a.IPHash), len(a.Network))
	}
	for _, s := range []string{a.IPHash, a.Network} {
		if strings.Contains(s, "198.51") {
			t.Fatal("hash contains the address")
		}
	}
	e2, _ := New(Config{HashKey: []byte("another key, also 32 bytes long!")})
	if e2.Observe(tenant, netip.MustParseAddr("198.51.100.7"), "d", t0).IPHash == a.IPHash {
		t.Fatal("hash must depend on the key")
	}
	if _, err := New(Config{HashKey: make([]byte, 31)}); err == nil {
		t.Fatal("short key accepted")
	}
	if a.Location != frankfurt || a.At != t0 || a.DeviceKey != b.DeviceKey || a.DeviceKey == other.DeviceKey || len(a.DeviceKey) != 22 {
		t.Fatalf("observe: %+v", a)
	}
	if got := e.Observe(tenant, netip.Addr{}, "d", t0); got.IPHash != "" || got.Network != "" {
		t.Fatalf("invalid address: %+v", got)
	}
}

func TestDistance(t *testing.T) {
	// Beijing–Frankfurt is about 7,790 km great circle.
	d := DistanceKm(beijing.Lat, beijing.Lon, frankfurt.Lat, frankfurt.Lon)
	if d < 7700 || d > 7850 {
		t.Fatalf("distance %.0f", d)
	}
	if DistanceKm(1, 2, 1, 2) != 0 {
		t.Fatal("zero distance")
	}
	// Antipodes: half the circumference.
	if d := DistanceKm(0, 0, 0, 180); d < 20015 || d > 20016 {
		t.Fatalf("antipodes %.1f", d)
	}
}

func TestScoring(t *testing.T) {
	for score, want := range map[int]Level{0: Low, 1: Low, 2: Medium, 3: Medium, 4: High, 9: High} {
		if LevelFor(score) != want {
			t.Errorf("score %d: %s", score, LevelFor(score))
		}
	}
	want := map[string]int{SignalUntrustedIP: 4, SignalImpossibleTravel: 4, SignalNewDevice: 2, SignalNewCountry: 2, SignalNewNetwork: 1, SignalUnusualHour: 1, SignalSessionIPChange: 1, "made_up": 4}
	for n, w := range want {
		if Weight(n) != w {
			t.Errorf("%s weighs %d", n, Weight(n))
		}
	}
	if Level("bogus").Rank() != 2 || Low.Rank() != 0 || Medium.Rank() != 1 {
		t.Fatal("rank")
	}
	if (Assessment{Level: Low}).NotifyUser() || !(Assessment{Level: Medium}).NotifyUser() || !(Assessment{Level: High}).NotifyUser() {
		t.Fatal("notify on medium and high only")
	}
}

func TestParseCIDRList(t *testing.T) {
	ps, err := ParseCIDRList(strings.NewReader("# threat feed\n198.51.100.0/24\n\n 203.0.113.7 # single\n2001:db8::/33\n10.1.2.3/8\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.7/32"), netip.MustParsePrefix("2001:db8::/33"), netip.MustParsePrefix("10.0.0.0/8")}
	if !reflect.DeepEqual(ps, want) {
		t.Fatalf("%v", ps)
	}
	if _, err := ParseCIDRList(strings.NewReader("198.51.100.0/24\n198.51.100.0/33\n")); err == nil || err.Error() != "untrusted list line 2: not an address or CIDR" {
		t.Fatalf("bad line: %v", err)
	}
}

// A signal added after evaluation is scored with the rest.
func TestAssessmentWith(t *testing.T) {
	a := assess([]Signal{{Name: SignalNewNetwork}})
	if a.Level != Low || a.Score != 1 {
		t.Fatalf("base %+v", a)
	}
	b := a.With(Signal{Name: SignalPasskeyCounter})
	if b.Level != Medium || b.Score != 3 || len(a.Signals) != 1 || b.Names()[1] != SignalPasskeyCounter {
		t.Fatalf("with counter regression %+v (base now %+v)", b, a)
	}
}
