package risk

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeMMDB builds a small .mmdb in the GeoIP2 layouts with MaxMind's own
// writer, so the reader is tested against the real format, not a mock.
func writeMMDB(t *testing.T, dbType string, rows map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType, RecordSize: 24,
		// The test uses the documentation ranges, which the writer
		// leaves out by default.
		IncludeReservedNetworks: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, v := range rows {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, v); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func city(iso string, lat, lon float64, radius uint16) mmdbtype.Map {
	return mmdbtype.Map{
		"country":  mmdbtype.Map{"iso_code": mmdbtype.String(iso), "names": mmdbtype.Map{"en": mmdbtype.String("x")}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon), "accuracy_radius": mmdbtype.Uint16(radius)},
	}
}

func TestMaxMindRealDatabase(t *testing.T) {
	cityPath := writeMMDB(t, "GeoIP2-City", map[string]mmdbtype.Map{
		"203.0.113.0/24":  city("CN", 39.9042, 116.4074, 50),
		"198.51.100.0/24": city("DE", 50.1109, 8.6821, 20),
		"2001:db8::/32":   city("DE", 50.1109, 8.6821, 100),
		// Country only, as for many mobile and anycast ranges.
		"192.0.2.0/24": {"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("FR")}},
	})
	asnPath := writeMMDB(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"203.0.113.0/24":  {"autonomous_system_number": mmdbtype.Uint32(4134), "autonomous_system_organization": mmdbtype.String("x")},
		"198.51.100.0/24": {"autonomous_system_number": mmdbtype.Uint32(3320)},
	})
	g, err := OpenMaxMind(cityPath, asnPath)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cases := map[string]struct {
		loc   Location
		found bool
	}{
		"203.0.113.9":           {Location{Country: "CN", HasCoords: true, Lat: 39.9042, Lon: 116.4074, RadiusKm: 50, ASN: 4134}, true},
		"::ffff:198.51.100.7":   {Location{Country: "DE", HasCoords: true, Lat: 50.1109, Lon: 8.6821, RadiusKm: 20, ASN: 3320}, true},
		"2001:db8:1::1":         {Location{Country: "DE", HasCoords: true, Lat: 50.1109, Lon: 8.6821, RadiusKm: 100}, true},
		"192.0.2.1":             {Location{Country: "FR"}, true},
		"100.64.0.1":            {Location{}, false},
		"2001:db9::1":           {Location{}, false},
		"198.51.101.1":          {Location{}, false},
		"::ffff:203.0.113.255":  {Location{Country: "CN", HasCoords: true, Lat: 39.9042, Lon: 116.4074, RadiusKm: 50, ASN: 4134}, true},
		"2001:db8:ffff:ffff::1": {Location{Country: "DE", HasCoords: true, Lat: 50.1109, Lon: 8.6821, RadiusKm: 100}, true},
	}
	for ip, want := range cases {
		loc, found := g.Lookup(netip.MustParseAddr(ip))
		if found != want.found || !reflect.DeepEqual(loc, want.loc) {
			t.Errorf("%s: %+v %v, want %+v %v", ip, loc, found, want.loc, want.found)
		}
	}

	// The AUTH-15 travel example end to end through the real database.
	e, err := New(Config{HashKey: make([]byte, 32), Geo: g})
	if err != nil {
		t.Fatal(err)
	}
	prev := e.Observe(tenant, netip.MustParseAddr("203.0.113.9"), "dev-a", t0.Add(-time.Hour))
	prev.Outcome = OutcomeSuccess
	a := e.Evaluate([]Login{prev}, e.Observe(tenant, netip.MustParseAddr("198.51.100.7"), "dev-a", t0))
	if a.Level != High || !reflect.DeepEqual(a.Names(), []string{SignalImpossibleTravel, SignalNewCountry, SignalNewNetwork}) {
		t.Fatalf("%+v", a)
	}
}

func TestOpenMaxMindErrors(t *testing.T) {
	if _, err := OpenMaxMind(); err == nil {
		t.Fatal("no paths accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o600)
	if _, err := OpenMaxMind(bad); err == nil {
		t.Fatal("garbage accepted")
	}
}
