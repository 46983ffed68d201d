package risk

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// Config is the operator's risk configuration (server-wide; the tenant's
// part is Policy).
type Config struct {
	// HashKey keys the hashes of addresses and networks in the login
	// history (at least 32 bytes, from the key provider, purpose "fraud").
	// A plain hash of an IPv4 address is no protection: all 2^32 of them
	// hash in minutes. Without the key the stored hashes say nothing.
	// Keep it stable: after a change every stored device and network
	// compares as new, so each user's next login is new_device (medium)
	// once; history older than Window is gone anyway.
	HashKey []byte
	// Geo resolves addresses; nil disables new_country and
	// impossible_travel (the other signals still work).
	Geo Geo
	// Untrusted is the operator's threat-intelligence list.
	Untrusted []netip.Prefix
	// Zero values take the Default* constants.
	MaxSpeedKmh   float64
	MinTravelKm   float64
	HourMinLogins int
	Window        time.Duration
}

// Evaluator applies the rules. It is safe for concurrent use.
type Evaluator struct {
	key           []byte
	geo           Geo
	untrustedList []netip.Prefix
	maxSpeed      float64
	minTravelKm   float64
	hourMinLogins int
	window        time.Duration
}

// New checks cfg and returns an Evaluator.
func New(cfg Config) (*Evaluator, error) {
	if len(cfg.HashKey) < 32 {
		return nil, errors.New("risk: hash key must be at least 32 bytes")
	}
	e := &Evaluator{
		key: append([]byte(nil), cfg.HashKey...), geo: cfg.Geo,
		maxSpeed: cfg.MaxSpeedKmh, minTravelKm: cfg.MinTravelKm,
		hourMinLogins: cfg.HourMinLogins, window: cfg.Window,
	}
	for _, p := range cfg.Untrusted {
		e.untrustedList = append(e.untrustedList, p.Masked())
	}
	if e.maxSpeed <= 0 {
		e.maxSpeed = DefaultMaxSpeedKmh
	}
	if e.minTravelKm <= 0 {
		e.minTravelKm = DefaultMinTravelKm
	}
	if e.hourMinLogins <= 0 {
		e.hourMinLogins = DefaultHourMinLogins
	}
	if e.window <= 0 {
		e.window = DefaultWindow
	}
	return e, nil
}

// Window is how far back history counts; the store keeps no more.
func (e *Evaluator) Window() time.Duration { return e.window }

// Observe builds the current login from what the server saw: the
// connection's address (after the trusted-proxy rules), the device key the
// client proved, and the time. The address, its network and the device key
// are kept only as keyed hashes (Login.IPHash, Network, DeviceKey): the
// rules need equality, and the login history then holds no address or
// device identifier that could be read back or joined with other tables
// (AUTH-13: fingerprint data only as a keyed hash; PRV-05). tenantID is
// part of every hash, so the same address or device hashes differently in
// two tenants and their histories cannot be linked.
func (e *Evaluator) Observe(tenantID string, ip netip.Addr, deviceKey string, at time.Time) Login {
	ip = ip.Unmap().WithZone("")
	l := Login{At: at.UTC(), IP: ip}
	if deviceKey != "" {
		l.DeviceKey = e.hash("device", tenantID, deviceKey)
	}
	if !ip.IsValid() {
		return l
	}
	l.IPHash = e.hash("ip", tenantID, ip.String())
	l.Network = e.hash("net", tenantID, NetworkOf(ip).String())
	if e.geo != nil {
		if loc, ok := e.geo.Lookup(ip); ok {
			l.Location = loc
		}
	}
	return l
}

// hash is HMAC-SHA-256 over a purpose label, the tenant and the value,
// truncated to 128 bits (enough for equality; collisions do not matter at
// that size), base64url.
func (e *Evaluator) hash(purpose, tenantID, value string) string {
	m := hmac.New(sha256.New, e.key)
	for _, s := range []string{"mcrm/risk/" + purpose, tenantID, value} {
		m.Write([]byte{byte(len(s) >> 8), byte(len(s))})
		m.Write([]byte(s))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// NetworkOf is the network a login is counted in: the /24 for IPv4 (one
// customer site or carrier pool), the /48 for IPv6 (one site's allocation;
// a /64 changes with every SLAAC privacy address rotation on some
// carriers, which would make every login new).
func NetworkOf(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

func (e *Evaluator) untrusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range e.untrustedList {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseCIDRList reads an operator list: one CIDR or single address a line,
// blank lines and '#' comments ignored. A malformed line is an error (with
// its line number) rather than skipped, so a typo cannot silently drop an
// entry from a security list.
func ParseCIDRList(r io.Reader) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.Contains(line, "/") {
			a, err := netip.ParseAddr(line)
			if err != nil {
				return nil, fmt.Errorf("untrusted list line %d: not an address or CIDR", n)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(line)
		if err != nil {
			return nil, fmt.Errorf("untrusted list line %d: not an address or CIDR", n)
		}
		out = append(out, p.Masked())
	}
	return out, sc.Err()
}
