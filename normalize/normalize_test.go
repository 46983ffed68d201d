package normalize

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDate(t *testing.T) {
	tests := []struct {
		in    string
		order DateOrder
		want  string
		err   error
	}{
		// ISO is accepted whatever the order.
		{"2020-04-03", "", "2020-04-03", nil},
		{"2020-04-03", ISO, "2020-04-03", nil},
		{"2020-04-03", DMY, "2020-04-03", nil},
		{"2020-04-03", MDY, "2020-04-03", nil},
		{" 2020-4-3 ", ISO, "2020-04-03", nil},
		{"2020/12/31", "", "2020-12-31", nil},
		{"2020-02-29", ISO, "2020-02-29", nil},
		{"2019-02-29", ISO, "", ErrInvalidDate},
		{"2020-13-01", ISO, "", ErrInvalidDate},
		// RFC 3339 timestamps keep the date as written (no UTC shift).
		{"2020-04-03T23:30:00-05:00", "", "2020-04-03", nil},
		{"2020-04-03T00:30:00+09:00", DMY, "2020-04-03", nil},
		{"2020-04-03T10:11:12Z", MDY, "2020-04-03", nil},
		{"2020-04-03T10:11:12", "", "2020-04-03", nil},
		{"2020-04-03T25:11:12Z", "", "", ErrInvalidDate},
		// DMY.
		{"26-08-2020", DMY, "2020-08-26", nil},
		{"3/4/2020", DMY, "2020-04-03", nil},
		{"03.04.2020", DMY, "2020-04-03", nil},
		{"31-12-1999", DMY, "1999-12-31", nil},
		{"29/02/2020", DMY, "2020-02-29", nil},
		{"29/02/2021", DMY, "", ErrInvalidDate},
		{"31-02-2020", DMY, "", ErrInvalidDate},
		{"12/25/2020", DMY, "", ErrInvalidDate}, // only valid as MDY
		{"32/01/2020", DMY, "", ErrInvalidDate},
		// MDY.
		{"04/03/2020", MDY, "2020-04-03", nil},
		{"4-3-2020", MDY, "2020-04-03", nil},
		{"12.31.1999", MDY, "1999-12-31", nil},
		{"13/25/2020", MDY, "", ErrInvalidDate},
		{"25/12/2020", MDY, "", ErrInvalidDate}, // only valid as DMY
		{"02/31/2020", MDY, "", ErrInvalidDate},
		// Without an order a non-ISO date is never guessed.
		{"03/04/2020", "", "", ErrAmbiguousDate},
		{"03/04/2020", ISO, "", ErrAmbiguousDate},
		{"25/12/2020", "", "", ErrAmbiguousDate},
		// Two-digit years.
		{"03/04/20", DMY, "", ErrAmbiguousDate},
		{"03/04/20", MDY, "", ErrAmbiguousDate},
		{"03/04/20", "", "", ErrAmbiguousDate},
		// Garbage.
		{"", DMY, "", ErrInvalidDate},
		{"yesterday", DMY, "", ErrInvalidDate},
		{"03/04-2020", DMY, "", ErrInvalidDate},
		{"03/04/2020/1", DMY, "", ErrInvalidDate},
		{"003/04/2020", DMY, "", ErrInvalidDate},
		{"03/04/20201", DMY, "", ErrInvalidDate},
		{"0000-01-01", ISO, "", ErrInvalidDate},
	}
	for _, tt := range tests {
		got, err := Date(tt.in, tt.order)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("Date(%q, %q) = %q, %v; want %q, %v", tt.in, tt.order, got, err, tt.want, tt.err)
		}
	}
}

func TestDateUnknownOrder(t *testing.T) {
	_, err := Date("2020-01-02", "YMD")
	if err == nil || errors.Is(err, ErrInvalidDate) || errors.Is(err, ErrAmbiguousDate) {
		t.Fatalf("Date with unknown order: err = %v, want a distinct error", err)
	}
}

// TestDateDatablist checks that every subscription date in the datablist
// sample (DD-MM-YYYY) parses with DMY, and that with no order they are all
// reported as ambiguous rather than guessed.
func TestDateDatablist(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "data", "datablist-customers", "customers-10000.csv")
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			t.Skip("datablist sample not present")
		}
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if recs[0][10] != "Subscription Date" {
		t.Fatalf("column 10 = %q", recs[0][10])
	}
	if got, err := Date(recs[1][10], DMY); got != "2020-08-26" || err != nil {
		t.Fatalf("first subscription date = %q, %v; want 2020-08-26", got, err)
	}
	for i, r := range recs[1:] {
		if _, err := Date(r[10], DMY); err != nil {
			t.Errorf("record %d: %v", i+1, err)
		}
		if _, err := Date(r[10], ""); !errors.Is(err, ErrAmbiguousDate) {
			t.Errorf("record %d: Date(%q, \"\") err = %v, want ErrAmbiguousDate", i+1, r[10], err)
		}
	}
}

func TestPhoneNumber(t *testing.T) {
	tests := []struct {
		in, region string
		want       Phone
	}{
		// Forms from customers-10000.csv (Phone 1 / Phone 2 columns).
		{"043-797-5229", "US", Phone{E164: "+10437975229", Original: "043-797-5229", Valid: true}},
		{"915.112.1727", "US", Phone{E164: "+19151121727", Original: "915.112.1727", Valid: true}},
		{"(209)172-7124x3651", "US", Phone{E164: "+12091727124", Ext: "3651", Original: "(209)172-7124x3651", Valid: true}},
		{"8352752061", "US", Phone{E164: "+18352752061", Original: "8352752061", Valid: true}},
		{"(567)135-1918", "US", Phone{E164: "+15671351918", Original: "(567)135-1918", Valid: true}},
		{"881-632-0721x11032", "US", Phone{E164: "+18816320721", Ext: "11032", Original: "881-632-0721x11032", Valid: true}},
		{"552.051.2979x342", "US", Phone{E164: "+15520512979", Ext: "342", Original: "552.051.2979x342", Valid: true}},
		{"001-315-224-3556", "US", Phone{E164: "+13152243556", Original: "001-315-224-3556", Valid: true}},
		{"001-184-153-9683x1497", "US", Phone{E164: "+11841539683", Ext: "1497", Original: "001-184-153-9683x1497", Valid: true}},
		{"+1-134-348-0265x9132", "US", Phone{E164: "+11343480265", Ext: "9132", Original: "+1-134-348-0265x9132", Valid: true}},
		{"+1-605-640-1833x70183", "US", Phone{E164: "+16056401833", Ext: "70183", Original: "+1-605-640-1833x70183", Valid: true}},
		{"812968881", "US", Phone{Original: "812968881"}},
		{"-5361", "US", Phone{Original: "-5361"}},
		{"85373519", "US", Phone{Original: "85373519"}},
		// International prefixes use the number's own country.
		{"+44 20 7946 0958", "US", Phone{E164: "+442079460958", Original: "+44 20 7946 0958", Valid: true}},
		{"0044 20 7946 0958", "US", Phone{E164: "+442079460958", Original: "0044 20 7946 0958", Valid: true}},
		{"011 44 20 7946 0958", "US", Phone{E164: "+442079460958", Original: "011 44 20 7946 0958", Valid: true}},
		{"+8613812341234", "US", Phone{E164: "+8613812341234", Original: "+8613812341234", Valid: true}},
		// National numbers in other regions; region is case-insensitive.
		{"020 7946 0958", "gb", Phone{E164: "+442079460958", Original: "020 7946 0958", Valid: true}},
		{"138 1234 1234", "CN", Phone{E164: "+8613812341234", Original: "138 1234 1234", Valid: true}},
		// Extensions in other spellings.
		{" 212-555-0100 ext. 12 ", "US", Phone{E164: "+12125550100", Ext: "12", Original: "212-555-0100 ext. 12", Valid: true}},
		{"tel:+1-418-656-9254;ext=102", "", Phone{E164: "+14186569254", Ext: "102", Original: "tel:+1-418-656-9254;ext=102", Valid: true}},
		// Not possible or not parseable.
		{"555-1234", "US", Phone{Original: "555-1234"}},
		{"212-555-0100", "", Phone{Original: "212-555-0100"}},
		{"call me", "US", Phone{Original: "call me"}},
		{"   ", "US", Phone{}},
	}
	for _, tt := range tests {
		if got := PhoneNumber(tt.in, tt.region); got != tt.want {
			t.Errorf("PhoneNumber(%q, %q) = %+v; want %+v", tt.in, tt.region, got, tt.want)
		}
	}
}

func TestEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"urangel@espinoza-francis.net", "urangel@espinoza-francis.net", true},
		{"  John.Doe@IBM.com ", "john.doe@ibm.com", true},
		{"Frank_Dawson@Lotus.com", "frank_dawson@lotus.com", true},
		{"a+tag@example.co.uk", "a+tag@example.co.uk", true},
		{"Zoë@Example.com", "zoë@example.com", true},
		{"", "", false},
		{"plainaddress", "", false},
		{"a@", "", false},
		{"@example.com", "", false},
		{"a..b@example.com", "", false},
		{"Jane <jane@example.com>", "", false},
		{"<jane@example.com>", "", false},
		{"jane@example.com (Jane)", "", false},
		{"jane@example.com, joe@example.com", "", false},
		{`"jane doe"@example.com`, "", false},
	}
	for _, tt := range tests {
		got, err := Email(tt.in)
		if got != tt.want || (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidEmail)) {
			t.Errorf("Email(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestEmailLength(t *testing.T) {
	local := make([]byte, 64)
	for i := range local {
		local[i] = 'a'
	}
	label := string(local[:63])
	// 64 + 1 + 4*63 + 3 dots = 320 > 254.
	long := string(local) + "@" + label + "." + label + "." + label + "." + label
	if _, err := Email(long); !errors.Is(err, ErrInvalidEmail) {
		t.Fatalf("Email(%d chars) err = %v, want ErrInvalidEmail", len(long), err)
	}
	// Exactly 254 characters is accepted.
	ok := string(local) + "@" + label + "." + label + "." + label[:57] + ".com"
	if len(ok) != 254 {
		t.Fatalf("test address has %d chars", len(ok))
	}
	if got, err := Email(ok); err != nil || got != ok {
		t.Fatalf("Email(254 chars) = %q, %v", got, err)
	}
}
