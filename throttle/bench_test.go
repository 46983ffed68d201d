package throttle_test

import (
	"fmt"
	"net/netip"
	"testing"

	"mcrm/dbtest"
	"mcrm/sqlstore"
	"mcrm/throttle"
)

// BenchmarkLoginAttempt is the throttle's share of one login: Check and
// the outcome record, two write transactions. Half the attempts fail, on
// accounts spread over many networks, so the tables hold live rows.
func BenchmarkLoginAttempt(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(backend, func(b *testing.B) {
			db := dbtest.Open(b, backend)
			l, err := throttle.New(db, []byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				k := l.Key("t1", l.Account("t1", fmt.Sprintf("u%d", i%500), ""), netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}))
				d, err := l.Check(ctx, k)
				if err != nil {
					b.Fatal(err)
				}
				if !d.Allowed {
					continue
				}
				if i%2 == 0 {
					err = l.RecordSuccess(ctx, k)
				} else {
					err = l.RecordFailure(ctx, k, sqlstore.Event{TenantID: "t1"})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
