package risk

import (
	"net/netip"
	"time"
)

// StepUpWindow: a session that moves to another country and another
// network within this time of its last request from the old address must
// step up (AUTH-13). Slower moves are travel, and only a signal.
const StepUpWindow = 10 * time.Minute

// IPChange classifies an address change inside a session. There is no
// logout outcome on purpose: mobile clients change address all the time
// (carrier NAT, Wi-Fi to cellular), so an IP change is at most a reason to
// ask for a fresh strong authentication (AUTH-13, AUTH-10).
type IPChange struct {
	// Signals is empty when nothing worth recording changed (same
	// address, or a new address in the same network).
	Signals []Signal
	// RiskDelta is what the change adds to the session's risk: the sum
	// of the signal weights (session_ip_change is +1).
	RiskDelta int
	// StepUp asks the caller to require a strong authentication before
	// the next sensitive operation (insufficient_user_authentication).
	StepUp bool
}

// SessionIPChange compares the session's previous address (last seen at
// prevSeen) with the address of the request at now.
//
//   - same network (/24, /48): nothing;
//   - other network, same or unknown country: session_ip_change, +1;
//   - other network and other country (or other ASN where the database
//     has one, else other network) within StepUpWindow: the same signal
//     and StepUp;
//   - new address on the untrusted list: untrusted_ip too, and StepUp.
func (e *Evaluator) SessionIPChange(prevIP netip.Addr, prevSeen time.Time, newIP netip.Addr, now time.Time) IPChange {
	prevIP, newIP = prevIP.Unmap(), newIP.Unmap()
	var out IPChange
	if !newIP.IsValid() || prevIP == newIP {
		return out
	}
	if e.untrusted(newIP) {
		out.Signals = append(out.Signals, Signal{SignalUntrustedIP, "session moved to an address on the operator's untrusted list"})
		out.StepUp = true
	}
	// Without a previous address (a session from before addresses were
	// kept) there is nothing to compare.
	if !prevIP.IsValid() || NetworkOf(prevIP) == NetworkOf(newIP) {
		return out.total()
	}
	var from, to Location
	if e.geo != nil {
		from, _ = e.geo.Lookup(prevIP)
		to, _ = e.geo.Lookup(newIP)
	}
	newCountry := from.Country != "" && to.Country != "" && from.Country != to.Country
	// The network is already known to differ; an ASN, when both lookups
	// have one, is the stronger test of "another provider".
	newProvider := from.ASN == 0 || to.ASN == 0 || from.ASN != to.ASN
	detail := "address changed to another network"
	if newCountry {
		detail = "address changed from " + from.Country + " to " + to.Country
		if newProvider && now.Sub(prevSeen) <= StepUpWindow {
			out.StepUp = true
		}
	}
	out.Signals = append(out.Signals, Signal{SignalSessionIPChange, detail})
	return out.total()
}

func (c IPChange) total() IPChange {
	c.RiskDelta = 0
	for _, s := range c.Signals {
		c.RiskDelta += Weight(s.Name)
	}
	return c
}
