package sqlstore_test

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/risk"
	"mcrm/sqlstore"
)

type mapGeo map[netip.Prefix]risk.Location

func (g mapGeo) Lookup(ip netip.Addr) (risk.Location, bool) {
	for p, l := range g {
		if p.Contains(ip) {
			return l, true
		}
	}
	return risk.Location{}, false
}

var (
	riskT0  = time.Date(2026, 11, 4, 14, 0, 0, 0, time.UTC)
	riskGeo = mapGeo{
		netip.MustParsePrefix("198.51.100.0/24"): {Country: "DE", HasCoords: true, Lat: 50.1109, Lon: 8.6821, RadiusKm: 20, ASN: 3320},
		netip.MustParsePrefix("203.0.113.0/24"):  {Country: "CN", HasCoords: true, Lat: 39.9042, Lon: 116.4074, RadiusKm: 50, ASN: 4134},
	}
)

const rawDevice = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" // an RFC 7638 thumbprint

func riskEval(t *testing.T) *risk.Evaluator {
	t.Helper()
	e, err := risk.New(risk.Config{HashKey: []byte("0123456789abcdef0123456789abcdef"), Geo: riskGeo})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func recordLogin(t *testing.T, db *sqlstore.DB, e *risk.Evaluator, p *mcrm.Principal, ip, device string, at time.Time, o risk.Outcome) (string, risk.Assessment) {
	t.Helper()
	hist, err := db.LoginHistory(ctx, p.TenantID, p.UserID, at.Add(-e.Window()), 0)
	if err != nil {
		t.Fatal(err)
	}
	cur := e.Observe(p.TenantID, netip.MustParseAddr(ip), device, at)
	a := e.Evaluate(hist, cur)
	cur.Outcome = o
	id, err := db.RecordLogin(ctx, p.TenantID, p.UserID, cur, a)
	if err != nil {
		t.Fatal(err)
	}
	return id, a
}

func TestContractLoginHistoryRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		e := riskEval(t)
		_, a := recordLogin(t, db, e, f.rep1, "198.51.100.7", rawDevice, riskT0.Add(-2*time.Hour), risk.OutcomeSuccess)
		if a.Level != risk.Medium || !reflect.DeepEqual(a.Names(), []string{risk.SignalNewDevice}) {
			t.Fatalf("first login: %+v", a)
		}
		hist, err := db.LoginHistory(ctx, f.tenant.ID, f.rep1.UserID, riskT0.Add(-90*24*time.Hour), 10)
		if err != nil || len(hist) != 1 {
			t.Fatalf("history: %v %d", err, len(hist))
		}
		want := e.Observe(f.tenant.ID, netip.MustParseAddr("198.51.100.7"), rawDevice, riskT0.Add(-2*time.Hour))
		want.IP = netip.Addr{}
		want.Outcome = risk.OutcomeSuccess
		// Coordinates come back rounded to a tenth of a degree.
		want.Location.Lat, want.Location.Lon = 50.1, 8.7
		if !reflect.DeepEqual(hist[0], want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", hist[0], want)
		}
		// Same device and network: nothing to say.
		if _, a := recordLogin(t, db, e, f.rep1, "198.51.100.8", rawDevice, riskT0.Add(-time.Hour), risk.OutcomeSuccess); a.Level != risk.Low || len(a.Signals) != 0 {
			t.Fatalf("known login: %+v", a)
		}
		// AUTH-15: Beijing an hour later through the stored history.
		id, a := recordLogin(t, db, e, f.rep1, "203.0.113.9", rawDevice, riskT0, risk.OutcomeDenied)
		if a.Level != risk.High || !reflect.DeepEqual(a.Names(), []string{risk.SignalImpossibleTravel, risk.SignalNewCountry, risk.SignalNewNetwork}) {
			t.Fatalf("travel: %+v", a)
		}
		recs, err := db.LoginRecords(ctx, f.tenant.ID, f.rep1.UserID, 0)
		if err != nil || len(recs) != 3 {
			t.Fatalf("records: %v %d", err, len(recs))
		}
		r := recs[0]
		if r.ID != id || r.UserID != f.rep1.UserID || !r.At.Equal(riskT0) || r.Country != "CN" || r.Outcome != risk.OutcomeDenied || r.Level != risk.High || !reflect.DeepEqual(r.Signals, a.Signals) {
			t.Fatalf("stored decision: %+v", r)
		}
		if recs[1].Level != risk.Low || len(recs[1].Signals) != 0 || recs[2].Level != risk.Medium {
			t.Fatalf("older decisions: %+v", recs[1:])
		}
		// The denied login is not part of the baseline.
		hist, _ = db.LoginHistory(ctx, f.tenant.ID, f.rep1.UserID, riskT0.Add(-90*24*time.Hour), 0)
		if len(hist) != 2 || !hist[0].At.Equal(riskT0.Add(-time.Hour)) || !hist[1].At.Equal(riskT0.Add(-2*time.Hour)) {
			t.Fatalf("baseline newest first, successes only: %+v", hist)
		}
	})
}

// The table holds no address, network prefix or device identifier in any
// column (AUTH-13, PRV-05).
func TestContractLoginHistoryStoresNoAddress(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		e := riskEval(t)
		recordLogin(t, db, e, f.rep1, "198.51.100.77", rawDevice, riskT0, risk.OutcomeSuccess)
		recordLogin(t, db, e, f.rep1, "2001:db8:aaaa::77", rawDevice, riskT0.Add(time.Minute), risk.OutcomeFailure)
		rows, err := db.SQL().Query(`SELECT * FROM login_history WHERE tenant_id = $1`, f.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			n++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				s := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					s = string(b)
				}
				for _, bad := range []string{"198.51.100", "198.51.100.0/24", "2001:db8", rawDevice, rawDevice[:12]} {
					if strings.Contains(s, bad) {
						t.Errorf("column %s holds %q: %q", cols[i], bad, s)
					}
				}
			}
		}
		if n != 2 {
			t.Fatalf("rows %d", n)
		}
	})
}

func TestContractLoginHistoryBounded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		e := riskEval(t)
		l := e.Observe(f.tenant.ID, netip.MustParseAddr("198.51.100.7"), rawDevice, riskT0)
		// 505 successes a minute apart, then 50 newer failures.
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			for i := 0; i < 505; i++ {
				l.At, l.Outcome = riskT0.Add(time.Duration(i-600)*time.Minute), risk.OutcomeSuccess
				if _, err := tx.RecordLogin(ctx, f.tenant.ID, f.rep1.UserID, l, risk.Assessment{}); err != nil {
					return err
				}
			}
			for i := 0; i < 50; i++ {
				l.At, l.Outcome = riskT0.Add(time.Duration(i)*time.Second), risk.OutcomeFailure
				if _, err := tx.RecordLogin(ctx, f.tenant.ID, f.rep1.UserID, l, risk.Assessment{Level: risk.Low}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		since := riskT0.Add(-90 * 24 * time.Hour)
		for _, c := range []struct{ limit, want int }{{0, 500}, {10_000, 500}, {10, 10}, {1, 1}} {
			h, err := db.LoginHistory(ctx, f.tenant.ID, f.rep1.UserID, since, c.limit)
			if err != nil || len(h) != c.want {
				t.Fatalf("limit %d: %v %d", c.limit, err, len(h))
			}
			// Failures never crowd out the baseline: the newest rows
			// returned are the newest successes.
			if !h[0].At.Equal(riskT0.Add(-96*time.Minute)) || h[0].Outcome != risk.OutcomeSuccess {
				t.Fatalf("limit %d newest: %+v", c.limit, h[0])
			}
		}
		// since bounds by time: the last 30 minutes of successes.
		h, err := db.LoginHistory(ctx, f.tenant.ID, f.rep1.UserID, riskT0.Add(-125*time.Minute), 0)
		if err != nil || len(h) != 30 {
			t.Fatalf("since: %v %d", err, len(h))
		}
		// Another user and another tenant see nothing.
		g := setup(t, db)
		for _, p := range []*mcrm.Principal{f.rep2, g.rep1, {TenantID: g.tenant.ID, UserID: f.rep1.UserID}} {
			h, err := db.LoginHistory(ctx, p.TenantID, p.UserID, since, 0)
			if err != nil || len(h) != 0 {
				t.Fatalf("isolation %+v: %v %d", p, err, len(h))
			}
		}
		// Retention: the successes from 600 to 101 minutes before riskT0
		// are older than the cutoff; 5 successes and 50 failures stay.
		n, err := db.PruneLoginHistory(ctx, riskT0.Add(-100*time.Minute))
		if err != nil || n != 500 {
			t.Fatalf("prune: %v %d", err, n)
		}
		recs, _ := db.LoginRecords(ctx, f.tenant.ID, f.rep1.UserID, 0)
		if len(recs) != 55 {
			t.Fatalf("left %d", len(recs))
		}
	})
}

func TestContractLoginHistoryRules(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		g := setup(t, db)
		e := riskEval(t)
		l := e.Observe(f.tenant.ID, netip.MustParseAddr("198.51.100.7"), rawDevice, riskT0)
		// Unknown or missing outcome.
		for _, o := range []risk.Outcome{"", "maybe"} {
			l.Outcome = o
			if _, err := db.RecordLogin(ctx, f.tenant.ID, f.rep1.UserID, l, risk.Assessment{}); code(err) != mcrm.EInvalid {
				t.Fatalf("outcome %q: %v", o, err)
			}
		}
		// A user of another tenant cannot be written into this one.
		l.Outcome = risk.OutcomeSuccess
		if _, err := db.RecordLogin(ctx, f.tenant.ID, g.rep1.UserID, l, risk.Assessment{}); code(err) != mcrm.EConflict {
			t.Fatalf("cross-tenant user: %v", err)
		}
		// A pending login completes once, and only a pending one.
		l.Outcome = risk.OutcomeMFARequired
		pending, err := db.RecordLogin(ctx, f.tenant.ID, f.rep1.UserID, l, risk.Assessment{Level: risk.Medium, Score: 2, Signals: []risk.Signal{{Name: risk.SignalNewDevice}}})
		if err != nil {
			t.Fatal(err)
		}
		l.Outcome = risk.OutcomeDenied
		denied, _ := db.RecordLogin(ctx, f.tenant.ID, f.rep1.UserID, l, risk.Assessment{Level: risk.High})
		if err := db.CompleteLogin(ctx, f.tenant.ID, pending, risk.OutcomeDenied); code(err) != mcrm.EInvalid {
			t.Fatalf("complete as denied: %v", err)
		}
		if err := db.CompleteLogin(ctx, g.tenant.ID, pending, risk.OutcomeSuccess); code(err) != mcrm.ENotFound {
			t.Fatalf("complete from another tenant: %v", err)
		}
		if h, _ := db.LoginHistory(ctx, f.tenant.ID, f.rep1.UserID, riskT0.Add(-time.Hour), 0); len(h) != 0 {
			t.Fatalf("pending is not history yet: %d", len(h))
		}
		if err := db.CompleteLogin(ctx, f.tenant.ID, pending, risk.OutcomeSuccess); err != nil {
			t.Fatal(err)
		}
		if err := db.CompleteLogin(ctx, f.tenant.ID, pending, risk.OutcomeFailure); code(err) != mcrm.ENotFound {
			t.Fatalf("complete twice: %v", err)
		}
		if err := db.CompleteLogin(ctx, f.tenant.ID, denied, risk.OutcomeSuccess); code(err) != mcrm.ENotFound {
			t.Fatalf("denied turned into success: %v", err)
		}
		h, _ := db.LoginHistory(ctx, f.tenant.ID, f.rep1.UserID, riskT0.Add(-time.Hour), 0)
		if len(h) != 1 || h[0].DeviceKey != l.DeviceKey {
			t.Fatalf("completed login joins the baseline: %+v", h)
		}
		recs, _ := db.LoginRecords(ctx, f.tenant.ID, f.rep1.UserID, 0)
		if len(recs) != 2 {
			t.Fatalf("records %d", len(recs))
		}
		for _, r := range recs {
			switch r.ID {
			case pending:
				if r.Outcome != risk.OutcomeSuccess || r.Level != risk.Medium || !reflect.DeepEqual(r.Signals, []risk.Signal{{Name: risk.SignalNewDevice}}) {
					t.Fatalf("pending row: %+v", r)
				}
			case denied:
				if r.Outcome != risk.OutcomeDenied || r.Level != risk.High || len(r.Signals) != 0 || r.Signals == nil {
					t.Fatalf("denied row: %+v", r)
				}
			default:
				t.Fatalf("unexpected row %+v", r)
			}
		}
	})
}
