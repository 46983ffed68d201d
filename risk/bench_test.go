package risk

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkEvaluate500 is a login's risk cost for a user with a full
// bounded history (sqlstore.MaxLoginHistory rows).
func BenchmarkEvaluate500(b *testing.B) {
	e, _ := New(Config{HashKey: make([]byte, 32), Geo: geo, Untrusted: []netip.Prefix{netip.MustParsePrefix("198.51.100.200/29")}})
	var h []Login
	for i := 0; i < 500; i++ {
		l := e.Observe(tenant, netip.MustParseAddr("198.51.100.7"), "dev-a", t0.Add(-time.Duration(i)*time.Hour))
		l.Outcome = OutcomeSuccess
		h = append(h, l)
	}
	b.ReportAllocs()
	for b.Loop() {
		cur := e.Observe(tenant, netip.MustParseAddr("203.0.113.9"), "dev-b", t0)
		if a := e.Evaluate(h, cur); a.Level != High {
			b.Fatal(a)
		}
	}
}
