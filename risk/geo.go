package risk

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Geo resolves an address to a location. The server uses MaxMind; tests
// use a map.
type Geo interface {
	// Lookup reports false when the address is not in the database
	// (private ranges, unallocated space): such a login simply has no
	// location, which raises no geographic signal.
	Lookup(ip netip.Addr) (Location, bool)
}

// MaxMind reads MaxMind-format databases (GeoIP2/GeoLite2 City or Country,
// and optionally an ASN database, or any .mmdb with the same field names)
// that the operator supplies: mcrm ships none, because their licences
// forbid redistribution and they go stale within weeks.
type MaxMind struct {
	readers []*maxminddb.Reader
}

// mmRecord is the subset of the GeoIP2 City/Country and ASN layouts used.
// Country falls back to registered_country (anycast and satellite ranges
// often have only that).
type mmRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Location struct {
		Latitude       *float64 `maxminddb:"latitude"`
		Longitude      *float64 `maxminddb:"longitude"`
		AccuracyRadius uint16   `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
	ASN uint32 `maxminddb:"autonomous_system_number"`
}

// OpenMaxMind opens one or more .mmdb files; a lookup merges what each
// knows (the first non-empty value of each field wins).
func OpenMaxMind(paths ...string) (*MaxMind, error) {
	if len(paths) == 0 {
		return nil, errors.New("risk: no GeoIP database given")
	}
	m := &MaxMind{}
	for _, p := range paths {
		r, err := maxminddb.Open(p)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("open GeoIP database %s: %w", p, err)
		}
		m.readers = append(m.readers, r)
	}
	return m, nil
}

// Close releases the databases (they are memory-mapped).
func (m *MaxMind) Close() error {
	var first error
	for _, r := range m.readers {
		if err := r.Close(); err != nil && first == nil {
			first = err
		}
	}
	m.readers = nil
	return first
}

// Lookup implements Geo. A decoding error counts as not found: a damaged
// database must not fail logins, it only loses the geographic signals.
func (m *MaxMind) Lookup(ip netip.Addr) (Location, bool) {
	ip = ip.Unmap()
	var loc Location
	found := false
	for _, r := range m.readers {
		res := r.Lookup(ip)
		if !res.Found() {
			continue
		}
		var rec mmRecord
		if err := res.Decode(&rec); err != nil {
			continue
		}
		found = true
		if loc.Country == "" {
			loc.Country = rec.Country.ISOCode
			if loc.Country == "" {
				loc.Country = rec.RegisteredCountry.ISOCode
			}
		}
		if !loc.HasCoords && rec.Location.Latitude != nil && rec.Location.Longitude != nil {
			loc.HasCoords = true
			loc.Lat, loc.Lon = *rec.Location.Latitude, *rec.Location.Longitude
			loc.RadiusKm = int(rec.Location.AccuracyRadius)
		}
		if loc.ASN == 0 {
			loc.ASN = rec.ASN
		}
	}
	return loc, found
}
