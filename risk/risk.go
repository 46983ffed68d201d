// Package risk scores a login from facts the server derives itself: the
// client address (through an operator-supplied GeoIP database), the device
// key the client proves (DPoP thumbprint or device id), and the clock. Client
// claims never enter the score, so a client cannot talk its own risk down.
//
// The rules follow AUTH-15 (anomalous-login detection, rules layer) and
// AUTH-13 (an IP change is a signal, never a logout). Each login gets an
// Assessment: a Level and the Signals that produced it, written with the
// login so every decision can be explained afterwards. A tenant Policy maps
// the level to allow, require_mfa or deny.
//
// # Scoring
//
// Each signal has a weight:
//
//	untrusted_ip       4  (operator threat list: high on its own)
//	impossible_travel  4  (faster than MaxSpeedKmh: high on its own)
//	new_device         2  (medium on its own)
//	new_country        2  (medium on its own)
//	new_network        1  (low)
//	unusual_hour       1  (low, logged only under the default policy)
//	session_ip_change  1  (AUTH-13 "risk +1"; SessionIPChange only)
//
// The level is taken from the sum: 0–1 low, 2–3 medium, 4 or more high.
// So any single heavy signal is high, two medium ones together (a new
// device in a new country, the usual shape of an account takeover) are
// high, and two weak ones together (a new network at an unusual hour) are
// medium. Weights are fixed in code, not configurable per tenant: a tenant
// chooses what to do about a level (Policy), not how a level is reached.
//
// # Use at login
//
// After the password verifies:
//
//	hist, err := db.LoginHistory(ctx, tenantID, userID, now.Add(-ev.Window()), 0)
//	cur := ev.Observe(tenantID, clientIP, jkt /* or device id */, now)
//	cur.Zone = userZone // users.time_zone; nil is UTC
//	a := ev.Evaluate(hist, cur)
//	switch policy.Decide(a, userHasSecondFactor) {
//	case risk.Allow:      cur.Outcome = risk.OutcomeSuccess
//	case risk.RequireMFA: cur.Outcome = risk.OutcomeMFARequired // then db.CompleteLogin
//	case risk.Deny:       cur.Outcome = risk.OutcomeDenied
//	}
//	id, err := db.RecordLogin(ctx, tenantID, userID, cur, a)
//	// security event with a.Names(); notify the user when a.NotifyUser()
//
// On requests of a live session, Evaluator.SessionIPChange classifies an
// address change.
package risk

import (
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Level is a login's risk level.
type Level string

// The levels, in increasing order.
const (
	Low    Level = "low"
	Medium Level = "medium"
	High   Level = "high"
)

// Rank orders levels: low 0, medium 1, high 2; an unknown level ranks as
// high so a corrupted value can never weaken a decision.
func (l Level) Rank() int {
	switch l {
	case Low:
		return 0
	case Medium:
		return 1
	}
	return 2
}

// Signal names, stable: they appear in security events and stored history.
const (
	SignalUntrustedIP      = "untrusted_ip"
	SignalImpossibleTravel = "impossible_travel"
	SignalNewDevice        = "new_device"
	SignalNewCountry       = "new_country"
	SignalNewNetwork       = "new_network"
	SignalUnusualHour      = "unusual_hour"
	SignalSessionIPChange  = "session_ip_change"
	// SignalPasskeyCounter: a synced passkey answered with a sign count
	// not above the stored one. For a device-bound key that is a clone and
	// the ceremony fails; for a synced one it can be another device of the
	// same user, so it only raises the risk.
	SignalPasskeyCounter = "passkey_counter_regression"
)

// weights are the documented scores of each signal (see the package doc).
var weights = map[string]int{
	SignalUntrustedIP:      4,
	SignalImpossibleTravel: 4,
	SignalNewDevice:        2,
	SignalNewCountry:       2,
	SignalNewNetwork:       1,
	SignalUnusualHour:      1,
	SignalSessionIPChange:  1,
	SignalPasskeyCounter:   2,
}

// Weight is a signal's score; unknown names weigh as high, for the same
// reason Rank fails high.
func Weight(name string) int {
	if w, ok := weights[name]; ok {
		return w
	}
	return 4
}

// LevelFor turns a score into a level.
func LevelFor(score int) Level {
	switch {
	case score >= 4:
		return High
	case score >= 2:
		return Medium
	}
	return Low
}

// Signal is one reason behind an assessment. Detail is for people (admins,
// the user's notification); it never contains an address, a coordinate or
// a device key, because signals are stored and logged.
type Signal struct {
	Name   string `json:"name"`
	Detail string `json:"detail,omitempty"`
}

// Assessment is the result of evaluating one login.
type Assessment struct {
	Level   Level    `json:"level"`
	Score   int      `json:"score"`
	Signals []Signal `json:"signals"`
}

// Has reports whether the assessment carries the named signal.
func (a Assessment) Has(name string) bool {
	for _, s := range a.Signals {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Names lists the signal names in order (for events and tests).
func (a Assessment) Names() []string {
	out := make([]string, len(a.Signals))
	for i, s := range a.Signals {
		out[i] = s.Name
	}
	return out
}

// NotifyUser reports whether the user should be told about this login:
// AUTH-15 asks for a notification on medium and high.
func (a Assessment) NotifyUser() bool { return a.Level.Rank() >= Medium.Rank() }

// With returns the assessment with one more signal, scored again: for
// signals only the ceremony can see (a passkey's counter).
func (a Assessment) With(sig Signal) Assessment {
	return assess(append(append([]Signal{}, a.Signals...), sig))
}

func assess(signals []Signal) Assessment {
	score := 0
	for _, s := range signals {
		score += Weight(s.Name)
	}
	if signals == nil {
		signals = []Signal{}
	}
	return Assessment{Level: LevelFor(score), Score: score, Signals: signals}
}

// Outcome is what became of a login attempt. Only successful logins form
// the baseline a new login is compared against: a failed attempt from an
// attacker's device must not make that device "known".
type Outcome string

const (
	OutcomeSuccess     Outcome = "success"      // tokens issued
	OutcomeMFARequired Outcome = "mfa_required" // password ok, waiting for the second factor
	OutcomeFailure     Outcome = "failure"      // wrong credentials or factor
	OutcomeDenied      Outcome = "denied"       // refused by the risk policy
)

// Login is one login as the risk rules see it. History entries come from
// the store; the current one from Evaluator.Observe.
type Login struct {
	At time.Time
	// IP is the client address of the current login, used for the
	// untrusted list. It is never stored: history entries have the zero
	// value and carry IPHash instead.
	IP netip.Addr
	// IPHash and Network are keyed hashes (see Evaluator.Observe) of the
	// address and of its /24 (IPv4) or /48 (IPv6) network: equality is
	// all the rules need, and the table then holds no address.
	IPHash  string
	Network string
	// DeviceKey is the keyed hash of the DPoP key thumbprint (RFC 7638)
	// or device id the client proved; empty when it proved none.
	DeviceKey string
	Location  Location
	Outcome   Outcome
	// Zone is the user's time zone for unusual_hour (nil: UTC). Only the
	// current login's zone is used, for history too: the question is
	// whether the hour is unusual on the user's clock as it is now.
	Zone *time.Location
}

// Location is what a GeoIP lookup gives. Coordinates are approximate
// (RadiusKm is the database's accuracy radius) and stored rounded.
type Location struct {
	Country   string // ISO 3166-1 alpha-2, "" when unknown
	HasCoords bool
	Lat, Lon  float64
	RadiusKm  int
	ASN       uint32 // 0 when unknown
}

// Defaults for Config's zero values.
const (
	DefaultMaxSpeedKmh   = 900
	DefaultMinTravelKm   = 300
	DefaultHourMinLogins = 10
	DefaultWindow        = 90 * 24 * time.Hour
	// HourMargin widens the usual hours by one hour each side: a user
	// who works 08:00–20:00 logging in at 20:30 is not an anomaly worth
	// a record.
	HourMargin = 1
)

func (e *Evaluator) baseline(history []Login, at time.Time) []Login {
	out := make([]Login, 0, len(history))
	from := at.Add(-e.window)
	for _, h := range history {
		if h.Outcome == OutcomeSuccess && !h.At.After(at) && !h.At.Before(from) {
			out = append(out, h)
		}
	}
	return out
}

// Evaluate scores current against the user's history (any order; entries
// other than successful logins within the window before current.At are
// ignored). With no baseline at all (a user's first login) new_country and
// new_network compare against nothing and are left out, rather than flag
// every first login three times; new_device still fires, which is what
// AUTH-15 asks of a first login.
//
// Signals come in a fixed order: untrusted_ip, impossible_travel,
// new_device, new_country, new_network, unusual_hour.
func (e *Evaluator) Evaluate(history []Login, current Login) Assessment {
	base := e.baseline(history, current.At)
	var sig []Signal
	if e.untrusted(current.IP) {
		sig = append(sig, Signal{SignalUntrustedIP, "address is on the operator's untrusted list"})
	}
	if s, ok := e.travel(base, current); ok {
		sig = append(sig, s)
	}
	if current.DeviceKey == "" {
		sig = append(sig, Signal{SignalNewDevice, "no device key presented"})
	} else if !seen(base, func(h Login) bool { return h.DeviceKey == current.DeviceKey }) {
		sig = append(sig, Signal{SignalNewDevice, "device key not seen for this user"})
	}
	if len(base) > 0 {
		// Only against a baseline that has countries: history written
		// before the operator installed a GeoIP database must not make
		// every user's next login "new country".
		located := seen(base, func(h Login) bool { return h.Location.Country != "" })
		if c := current.Location.Country; c != "" && located && !seen(base, func(h Login) bool { return h.Location.Country == c }) {
			sig = append(sig, Signal{SignalNewCountry, "first login from " + c})
		}
		if n := current.Network; n != "" && !seen(base, func(h Login) bool { return h.Network == n }) {
			sig = append(sig, Signal{SignalNewNetwork, "network not seen for this user"})
		}
	}
	if s, ok := e.unusualHour(base, current); ok {
		sig = append(sig, s)
	}
	return assess(sig)
}

func seen(base []Login, f func(Login) bool) bool {
	for _, h := range base {
		if f(h) {
			return true
		}
	}
	return false
}

// travel compares current with the latest successful login before it. The
// distance is reduced by both accuracy radii (two lookups that may each be
// off by their radius prove nothing within it), and must also exceed
// minTravelKm, because GeoIP often places one mobile carrier's addresses
// in different cities of the same region.
func (e *Evaluator) travel(base []Login, cur Login) (Signal, bool) {
	if !cur.Location.HasCoords {
		return Signal{}, false
	}
	var prev *Login
	for i := range base {
		if base[i].Location.HasCoords && (prev == nil || base[i].At.After(prev.At)) {
			prev = &base[i]
		}
	}
	if prev == nil {
		return Signal{}, false
	}
	km := DistanceKm(prev.Location.Lat, prev.Location.Lon, cur.Location.Lat, cur.Location.Lon)
	eff := km - float64(prev.Location.RadiusKm+cur.Location.RadiusKm)
	if eff < e.minTravelKm {
		return Signal{}, false
	}
	dt := cur.At.Sub(prev.At)
	speed := math.Inf(1)
	if dt > 0 {
		speed = eff / dt.Hours()
	}
	if speed <= e.maxSpeed {
		return Signal{}, false
	}
	from, to := orUnknown(prev.Location.Country), orUnknown(cur.Location.Country)
	return Signal{SignalImpossibleTravel, fmt.Sprintf("%s to %s: %.0f km in %s, over %.0f km/h", from, to, km, dt.Round(time.Minute), e.maxSpeed)}, true
}

func orUnknown(c string) string {
	if c == "" {
		return "unknown country"
	}
	return c
}

// DistanceKm is the great-circle (haversine) distance on the mean Earth
// radius; the error against the ellipsoid (< 0.5 %) is far below GeoIP's.
func DistanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0088
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// unusualHour needs hourMinLogins in the window. The usual hours are the
// smallest arc of the 24-hour clock that covers every hour seen (the
// complement of the longest run of unseen hours, so a night shift from
// 22:00 to 06:00 is one arc), widened by HourMargin.
func (e *Evaluator) unusualHour(base []Login, cur Login) (Signal, bool) {
	if len(base) < e.hourMinLogins {
		return Signal{}, false
	}
	zone := cur.Zone
	if zone == nil {
		zone = time.UTC
	}
	var seenHour [24]bool
	for _, h := range base {
		seenHour[h.At.In(zone).Hour()] = true
	}
	// Longest circular run of unseen hours.
	bestLen, bestStart := 0, 0
	for start := 0; start < 24; start++ {
		n := 0
		for n < 24 && !seenHour[(start+n)%24] {
			n++
		}
		if n > bestLen {
			bestLen, bestStart = n, start
		}
	}
	// The gap minus the margin at each end is the unusual range.
	if bestLen <= 2*HourMargin {
		return Signal{}, false
	}
	hour := cur.At.In(zone).Hour()
	off := (hour - bestStart + 24) % 24
	if off < HourMargin || off >= bestLen-HourMargin {
		return Signal{}, false
	}
	first := (bestStart + bestLen) % 24 // first usual hour
	last := (bestStart + 23) % 24       // last usual hour
	return Signal{SignalUnusualHour, fmt.Sprintf("login at %02d:00 local, usual hours %02d:00–%02d:59 over %d logins", hour, first, last, len(base))}, true
}
