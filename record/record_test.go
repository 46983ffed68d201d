package record

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"mcrm"
)

func TestParseMoney(t *testing.T) {
	for in, want := range map[string]Money{"0": 0, "12": 1200, "12.5": 1250, "12.05": 1205, "-0.01": -1, "1100040000.00": 110004000000} {
		got, err := ParseMoney(in)
		if err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
		if back, _ := ParseMoney(got.String()); back != got {
			t.Errorf("%q does not round-trip through %q", in, got.String())
		}
	}
	for _, bad := range []string{"", "1.234", "1e3", "abc", "1,5", "--1", "12345678901234"} {
		if _, err := ParseMoney(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseDateTimeAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata")
	}
	cases := []struct{ in, want, code string }{
		{"2026-03-08T01:59", "2026-03-08T06:59:00Z", ""},
		{"2026-03-08T02:30", "", "nonexistent_local_time"}, // clocks jump 02:00 → 03:00
		{"2026-03-08T03:00", "2026-03-08T07:00:00Z", ""},
		{"2026-11-01T01:30", "", "ambiguous_local_time"}, // 01:00–02:00 happens twice
		{"2026-11-01T02:00", "2026-11-01T07:00:00Z", ""},
		{"2026-11-01T01:30:00-04:00", "2026-11-01T05:30:00Z", ""}, // an offset settles it
		{"2026-11-01T01:30:00-05:00", "2026-11-01T06:30:00Z", ""},
		{"2026-13-01T00:00", "", "invalid_datetime"},
		{"yesterday", "", "invalid_datetime"},
	}
	for _, c := range cases {
		got, fe := ParseDateTime("due_at", c.in, ny)
		if c.code != "" {
			if fe == nil || fe.Code != c.code {
				t.Errorf("%s: got %v %v, want %s", c.in, got, fe, c.code)
			}
			continue
		}
		if fe != nil || got.Format(time.RFC3339) != c.want {
			t.Errorf("%s: got %s %v, want %s", c.in, got.Format(time.RFC3339), fe, c.want)
		}
	}
}

func TestDecodeRejectsUnknownAndSystemFields(t *testing.T) {
	e := mcrm.EntityByName("contacts")
	_, err := Decode(e, map[string]any{"last_name": "X", "id": "01J0000000000000000000000", "tenant_id": "t", "shoe": 1}, Options{Region: "US"})
	var me *mcrm.Error
	if !errors.As(err, &me) || len(me.Fields) != 3 {
		t.Fatalf("%v", err)
	}
	want := map[string]string{"id": "read_only", "shoe": "unknown_field", "tenant_id": "unknown_field"}
	for _, f := range me.Fields {
		if want[f.Field] != f.Code {
			t.Errorf("%s: %s", f.Field, f.Code)
		}
	}
}

func TestDecodeValues(t *testing.T) {
	e := mcrm.EntityByName("opportunities")
	res, err := Decode(e, map[string]any{"name": " Deal ", "amount": json.Number("1234.5"), "currency": "eur", "probability": json.Number("40"),
		"expected_close_date": "2026-02-28"}, Options{Region: "US"})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Values
	if v["name"] != "Deal" || v["amount"] != Money(123450) || v["currency"] != "EUR" || v["probability"] != int64(40) || v["expected_close_date"] != "2026-02-28" {
		t.Fatalf("%+v", v)
	}
	for field, bad := range map[string]any{"expected_close_date": "2026-02-30", "amount": json.Number("1.234"), "probability": "40", "currency": "EURO", "name": "a\x00b"} {
		if _, err := Decode(e, map[string]any{"name": "x", field: bad}, Options{}); err == nil {
			t.Errorf("%s=%v accepted", field, bad)
		}
	}
	a := mcrm.EntityByName("accounts")
	for field, bad := range map[string]any{"employees": json.Number("-5"), "year_established": json.Number("99999"), "currency": "ZZZ",
		"name": "bad \ufffd", "industry": "evil\u202egnp.exe", "description": "isolate \u2066x\u2069"} {
		if _, err := Decode(a, map[string]any{"name": "x", field: bad}, Options{}); err == nil {
			t.Errorf("account %s=%v accepted", field, bad)
		}
	}
	if _, err := Decode(a, map[string]any{"name": "Zoë 张伟 \u200d ok", "currency": "chf", "employees": json.Number("0")}, Options{}); err != nil {
		t.Errorf("valid account refused: %v", err)
	}
	c := mcrm.EntityByName("contacts")
	for _, bad := range []string{"javascript:alert(1)", "https://a.example/a b", "ftp://x.example", "http://", "https://ü.example"} {
		if _, err := Decode(c, map[string]any{"last_name": "x", "website": bad}, Options{}); err == nil {
			t.Errorf("website %q accepted", bad)
		}
	}
	res, err = Decode(c, map[string]any{"last_name": "x", "phones": []any{map[string]any{"value": "(415) 555-0100 x12"}}}, Options{Region: "US"})
	if err != nil {
		t.Fatal(err)
	}
	ph := res.Values["phones"].([]map[string]any)[0]
	if ph["value"] != "+14155550100" || ph["ext"] != "12" || ph["original"] != "(415) 555-0100 x12" || ph["type"] != "other" {
		t.Fatalf("%+v", ph)
	}
	if _, err := Decode(c, map[string]any{"last_name": "x", "phones": []any{map[string]any{"value": "12"}}}, Options{Region: "US"}); err == nil {
		t.Error("invalid phone accepted by the API path")
	}
}

func TestNewIDIsUniqueAndSortableByTime(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !ValidID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
		if i%100 == 0 {
			// Across milliseconds, ids sort by time.
			time.Sleep(2 * time.Millisecond)
			if prev != "" && id[:10] <= prev[:10] {
				t.Fatalf("time prefix not increasing: %s after %s", id, prev)
			}
			prev = id
		}
	}
}
