package importer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/importer"
	"mcrm/record"
	"mcrm/sqlstore"
)

var ctx = context.Background()

type env struct {
	db    *sqlstore.DB
	admin *mcrm.Principal
}

func newEnv(t testing.TB, backend string) *env {
	db := dbtest.Open(t, backend)
	ten, adminID, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: dbtest.Name("imp"), AdminEmail: "a@example.com", AdminName: "A", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, admin: &mcrm.Principal{TenantID: ten.ID, UserID: adminID, Role: mcrm.RoleAdmin}}
}

func (e *env) run(t testing.TB, entity string, data []byte, mapping string, dry bool) *importer.Report {
	t.Helper()
	var m *importer.Mapping
	if mapping != "" {
		var err error
		if m, err = importer.ParseMapping(strings.NewReader(mapping)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := importer.Import(ctx, e.db, e.admin, bytes.NewReader(data), importer.Options{Entity: mcrm.EntityByName(entity), Mapping: m, DryRun: dry, Region: "US"})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if rep.Rows != rep.Created+rep.Updated+rep.Failed {
		t.Fatalf("counts do not add up: %+v", rep)
	}
	return rep
}

func (e *env) all(t testing.TB, entity string) []record.Values {
	t.Helper()
	rows, _, err := e.db.List(ctx, e.admin, mcrm.EntityByName(entity), sqlstore.ListQuery{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

const contactsMapping = `{"date_order":"DMY","upsert_key":"email","columns":{
  "Vorname":{"field":"first_name"},"Nachname":{"field":"last_name"},"E-Mail":{"field":"emails.0.value"},
  "Telefon":{"field":"phones.0.value"},"Seit":{"field":"subscribed_on"},"Notiz":{"field":"notes"}},
  "set":{"emails.0.type":{"value":"work"},"phones.0.type":{"value":"mobile"}}}`

func each(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range dbtest.Backends {
		t.Run(b, func(t *testing.T) { fn(t, newEnv(t, b)) })
	}
}

func TestImportEncodingsDelimitersAndUpsert(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		text := "Vorname;Nachname;E-Mail;Telefon;Seit;Notiz\r\n" +
			"Zoë;Ångström;ZOE@Example.com;(415) 555-0100;26-08-2020;\r\n" +
			"张;伟;zhang.wei@example.cn;+86 138 0013 8000;01-02-2021;\r\n" +
			"Max;Müller;mm@example.de;12345;31-12-2019;\"Multi\nLine\"\r\n"
		// GBK cannot encode Latin letters with accents: its file holds the
		// Chinese row only (plus the header), and updates that contact.
		gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("Vorname;Nachname;E-Mail;Telefon;Seit;Notiz\r\n张;伟;ZHANG.WEI@example.cn;+86 138 0013 8000;01-02-2021;\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		utf16, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(text))
		bom := append([]byte("\xef\xbb\xbf"), text...)
		for i, data := range [][]byte{bom, gbk, utf16} {
			rep := e.run(t, "contacts", data, contactsMapping, false)
			want := []string{"utf-8", "gbk", "utf-16le"}[i]
			if rep.Failed != 0 || rep.Encoding != want || rep.Delimiter != ";" {
				t.Fatalf("file %d: %+v", i, rep)
			}
			// Same emails (case-insensitively): the later files update.
			if i == 0 && rep.Created != 3 || i == 1 && rep.Updated != 1 || i == 2 && rep.Updated != 3 {
				t.Fatalf("file %d: created %d updated %d", i, rep.Created, rep.Updated)
			}
		}
		rows := e.all(t, "contacts")
		if len(rows) != 3 {
			t.Fatalf("contacts %d", len(rows))
		}
		byLast := map[string]record.Values{}
		for _, r := range rows {
			byLast[r["last_name"].(string)] = r
		}
		zoe := byLast["Ångström"]
		if zoe["first_name"] != "Zoë" || zoe["subscribed_on"] != "2020-08-26" {
			t.Fatalf("zoe %+v", zoe)
		}
		ph := zoe["phones"].([]map[string]any)[0]
		if ph["value"] != "+14155550100" || ph["original"] != "(415) 555-0100" || ph["type"] != "mobile" {
			t.Fatalf("phone %+v", ph)
		}
		if byLast["伟"]["first_name"] != "张" || byLast["Müller"]["notes"] != "Multi\nLine" {
			t.Fatalf("non-latin or multi-line values lost: %+v %+v", byLast["伟"], byLast["Müller"])
		}
		// 12345 is no phone number anywhere: kept as entered, reported.
		mm := byLast["Müller"]["phones"].([]map[string]any)[0]
		if mm["value"] != nil || mm["original"] != "12345" {
			t.Fatalf("unnormalised phone %+v", mm)
		}
	})
}

func TestImportAmbiguousDateFailsAndRollsBack(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		data := []byte("first_name,last_name,subscribed_on\nA,One,2020-01-02\nB,Two,03/04/2020\nC,Three,2021-05-06\n")
		rep := e.run(t, "contacts", data, "", false)
		if rep.Outcome != "rolled_back" || rep.Failed != 1 || rep.Created != 2 || rep.Committed {
			t.Fatalf("%+v", rep)
		}
		if len(rep.Issues) != 1 || rep.Issues[0].Row != 3 || rep.Issues[0].Code != "ambiguous_date" || rep.Issues[0].Column != "subscribed_on" {
			t.Fatalf("issues %+v", rep.Issues)
		}
		if n := len(e.all(t, "contacts")); n != 0 {
			t.Fatalf("rolled back import left %d rows", n)
		}
		// Keeping the good rows commits exactly them.
		rep = e.run(t, "contacts", data, `{"keep_good_rows":true,"columns":{"first_name":{"field":"first_name"},"last_name":{"field":"last_name"},"subscribed_on":{"field":"subscribed_on"}}}`, false)
		if rep.Outcome != "committed" || rep.Failed != 1 || rep.Created != 2 {
			t.Fatalf("%+v", rep)
		}
		if n := len(e.all(t, "contacts")); n != 2 {
			t.Fatalf("kept %d rows", n)
		}
		// With the order given, the date reads.
		rep = e.run(t, "contacts", data, `{"date_order":"MDY","columns":{"first_name":{"field":"first_name"},"last_name":{"field":"last_name"},"subscribed_on":{"field":"subscribed_on"}}}`, true)
		if rep.Outcome != "dry_run" || rep.Failed != 0 || rep.Created != 3 {
			t.Fatalf("%+v", rep)
		}
		if n := len(e.all(t, "contacts")); n != 2 {
			t.Fatalf("dry run wrote: %d rows", n)
		}
	})
}

func TestImportMappingMustCoverEveryColumn(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		m, _ := importer.ParseMapping(strings.NewReader(`{"columns":{"last_name":{"field":"last_name"}}}`))
		_, err := importer.Import(ctx, e.db, e.admin, strings.NewReader("last_name,shoe_size\nX,42\n"), importer.Options{Entity: mcrm.EntityByName("contacts"), Mapping: m})
		me, ok := err.(*mcrm.Error)
		if !ok || me.Code != mcrm.EInvalid || len(me.Fields) != 1 || me.Fields[0].Field != "shoe_size" || me.Fields[0].Code != "unmapped_column" {
			t.Fatalf("%v", err)
		}
		if _, err := importer.ParseMapping(strings.NewReader(`{"colums":{}}`)); err == nil {
			t.Fatal("a misspelt mapping key was accepted")
		}
	})
}

func TestImportDeferredParentAndLookups(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		// The child comes before its parent; "Nowhere" exists nowhere.
		data := []byte("name,parent\nChild,Parent\nParent,\nOrphan,Nowhere\n")
		mapping := `{"keep_good_rows":true,"columns":{"name":{"field":"name"},"parent":{"field":"parent_id","if_empty":"null","lookup":{"entity":"accounts","by":"name"}}}}`
		rep := e.run(t, "accounts", data, mapping, false)
		if rep.Created != 2 || rep.Failed != 1 || rep.Counts["lookup_not_found"] != 1 || rep.Counts["empty_reference_set_null"] != 1 {
			t.Fatalf("%+v", rep)
		}
		rows := e.all(t, "accounts")
		ids := map[string]record.Values{}
		for _, r := range rows {
			ids[r["name"].(string)] = r
		}
		if len(rows) != 2 || ids["Child"]["parent_id"] != ids["Parent"]["id"] {
			t.Fatalf("parent not linked: %+v", rows)
		}
	})
}

func TestImportXLSX(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		f := excelize.NewFile()
		rows := [][]any{{"name", "employees", "website"}, {"Initech", 120, "https://initech.example"}, {"Globex", 5000, "http://globex.example"}}
		for i, r := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := f.Write(&buf); err != nil {
			t.Fatal(err)
		}
		rep := e.run(t, "accounts", buf.Bytes(), "", false)
		if rep.Format != "xlsx" || rep.Created != 2 || rep.Failed != 0 {
			t.Fatalf("%+v", rep)
		}
		got := map[string]int64{}
		for _, r := range e.all(t, "accounts") {
			got[r["name"].(string)] = r["employees"].(int64)
		}
		if got["Initech"] != 120 || got["Globex"] != 5000 {
			t.Fatalf("%v", got)
		}
	})
}

func TestExportRoundTripsWithFormulaNeutralised(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		evil := []string{"=HYPERLINK(\"http://evil.example\",\"x\")", "+SUM(A1)", "-2+3", "@cmd", "'quoted", "plain"}
		for i, s := range evil {
			err := e.db.InTx(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.Create(ctx, e.admin, mcrm.EntityByName("contacts"), record.Values{
					"first_name": s, "last_name": fmt.Sprint("L", i), "title": "\tTabbed",
					"emails": []map[string]any{{"type": "home", "value": fmt.Sprintf("p%d@example.com", i)}, {"type": "work", "value": fmt.Sprintf("w%d@example.com", i)}},
					"phones": []map[string]any{{"type": "mobile", "value": "+14155550100", "ext": "12", "original": "415 555 0100 x12"}},
				})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		n, err := importer.Export(ctx, e.db, e.admin, mcrm.EntityByName("contacts"), "csv", &out)
		if err != nil || n != len(evil) {
			t.Fatalf("export %d %v", n, err)
		}
		recs, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs[1:] {
			for _, c := range r {
				if c != "" && strings.ContainsRune("=+@\t\r", rune(c[0])) {
					t.Fatalf("formula cell exported as is: %q", c)
				}
			}
		}
		if !strings.Contains(out.String(), `'=HYPERLINK`) {
			t.Fatalf("no neutralised cell in %s", out.String())
		}
		// Import the export back: the same records, updated to the same
		// values (the id column is the upsert key).
		rep := e.run(t, "contacts", out.Bytes(), "", false)
		if rep.Updated != len(evil) || rep.Created != 0 || rep.Failed != 0 {
			t.Fatalf("%+v", rep)
		}
		// And into another tenant: new records with the same values; the
		// owner id means nothing there, so it falls back to the importer,
		// and each row says so.
		other := newEnv(t, backendOf(e))
		rep = other.run(t, "contacts", out.Bytes(), "", false)
		if rep.Created != len(evil) || rep.Failed != 0 || rep.Counts["lookup_not_found_set_null"] != len(evil) {
			t.Fatalf("%+v", rep)
		}
		a, b := e.all(t, "contacts"), other.all(t, "contacts")
		// Ids made in the same millisecond are not ordered: pair by name.
		sort.Slice(a, func(i, j int) bool { return a[i]["last_name"].(string) < a[j]["last_name"].(string) })
		sort.Slice(b, func(i, j int) bool { return b[i]["last_name"].(string) < b[j]["last_name"].(string) })
		for i := range a {
			for _, f := range []string{"first_name", "last_name", "title"} {
				if a[i][f] != b[i][f] {
					t.Fatalf("%s: %q != %q", f, a[i][f], b[i][f])
				}
			}
			if fmt.Sprint(a[i]["emails"]) != fmt.Sprint(b[i]["emails"]) {
				t.Fatalf("emails %v != %v", a[i]["emails"], b[i]["emails"])
			}
			pa, pb := a[i]["phones"].([]map[string]any)[0], b[i]["phones"].([]map[string]any)[0]
			if pa["value"] != pb["value"] || pa["ext"] != pb["ext"] || pa["type"] != pb["type"] {
				t.Fatalf("phones %v != %v", pa, pb)
			}
		}
	})
}

func backendOf(e *env) string { return string(e.db.Dialect) }

func TestVCardImportAndExportRoundTrip(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		card := "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;\r\n" +
			"EMAIL;WORK:juergen@example.de\r\nTEL;CELL:+49 151 12345678\r\nTEL;HOME:030 1234567\r\nORG:Müller GmbH\r\nEND:VCARD\r\n"
		rep := e.run(t, "contacts", []byte(card), "", false)
		if rep.Format != "vcard" || rep.Created != 1 || rep.Failed != 0 {
			t.Fatalf("%+v", rep)
		}
		var out bytes.Buffer
		if _, err := importer.Export(ctx, e.db, e.admin, mcrm.EntityByName("contacts"), "vcard", &out); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "BEGIN:VCARD\r\nVERSION:4.0\r\n") {
			t.Fatalf("%q", out.String())
		}
		other := newEnv(t, backendOf(e))
		rep = other.run(t, "contacts", out.Bytes(), "", false)
		if rep.Created != 1 || rep.Failed != 0 {
			t.Fatalf("%+v", rep)
		}
		c := other.all(t, "contacts")[0]
		if c["first_name"] != "Jürgen" || c["last_name"] != "Müller" || c["company"] != "Müller GmbH" {
			t.Fatalf("%+v", c)
		}
		em := c["emails"].([]map[string]any)
		ph := c["phones"].([]map[string]any)
		if len(em) != 1 || em[0]["value"] != "juergen@example.de" || em[0]["type"] != "work" || len(ph) != 2 || ph[0]["value"] != "+4915112345678" || ph[0]["type"] != "mobile" {
			t.Fatalf("%v %v", em, ph)
		}
	})
}

// TestImportStreamsInFlatMemory imports a generated 100,000-row file fed
// through a pipe: the heap after the import must not have grown with the
// file (the rows live in the database, the report keeps counts).
func TestImportStreamsInFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	e := newEnv(t, "sqlite")
	pr, pw := io.Pipe()
	const rows = 100000
	go func() {
		w := csv.NewWriter(pw)
		w.Write([]string{"first_name", "last_name", "city"})
		for i := 0; i < rows; i++ {
			w.Write([]string{fmt.Sprint("F", i), fmt.Sprint("L", i), "Berlin"})
		}
		w.Flush()
		pw.Close()
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep, err := importer.Import(ctx, e.db, e.admin, pr, importer.Options{Entity: mcrm.EntityByName("contacts")})
	if err != nil || rep.Created != rows {
		t.Fatalf("%v %+v", err, rep)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 16<<20 {
		t.Fatalf("heap grew by %d MiB for %d rows", grow>>20, rows)
	}
}

// A row that created a related record and then failed is rolled back with
// that record; a later row naming the same related record must create it
// again, not point at the undone one.
func TestKeepGoodRowsForgetsRolledBackRelated(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		data := []byte("external_id,last_name,company\nX1,A,OldCo\nX1,B,NewCo\nX2,C,NewCo\n")
		mapping := `{"keep_good_rows":true,"columns":{"external_id":{"field":"external_id"},"last_name":{"field":"last_name"},
		  "company":{"field":"account_id","lookup":{"entity":"accounts","by":"name","if_missing":"create"}}}}`
		rep := e.run(t, "contacts", data, mapping, false)
		if rep.Created != 2 || rep.Failed != 1 || len(rep.Issues) < 1 {
			t.Fatalf("%+v", rep)
		}
		var failed []importer.Issue
		for _, is := range rep.Issues {
			if is.Severity == "error" {
				failed = append(failed, is)
			}
		}
		if len(failed) != 1 || failed[0].Row != 3 || failed[0].Code != "duplicate" {
			t.Fatalf("issues %+v", rep.Issues)
		}
		accounts := e.all(t, "accounts")
		if len(accounts) != 2 {
			t.Fatalf("accounts %d", len(accounts))
		}
		names := map[string]string{}
		for _, a := range accounts {
			names[a["id"].(string)] = a["name"].(string)
		}
		for _, c := range e.all(t, "contacts") {
			if names[c["account_id"].(string)] == "" {
				t.Fatalf("contact %s points at a missing account", c["last_name"])
			}
		}
	})
}

// New rows are inserted in batches; a duplicate inside a batch must still
// fail on its own row, and a repeated upsert key must update the row
// written earlier in the same file.
func TestBatchedInsertsAttributeFailuresAndUpserts(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		var b strings.Builder
		b.WriteString("external_id,last_name\n")
		for i := 0; i < 300; i++ {
			id := fmt.Sprint("K", i)
			if i == 200 {
				id = "K7" // duplicate of row 9 (line numbers count the header)
			}
			fmt.Fprintf(&b, "%s,L%d\n", id, i)
		}
		plain := `{"columns":{"external_id":{"field":"external_id"},"last_name":{"field":"last_name"}}}`
		rep := e.run(t, "contacts", []byte(b.String()), plain, false)
		if rep.Outcome != "rolled_back" || rep.Failed != 1 || rep.Created != 299 || len(rep.Issues) != 1 ||
			rep.Issues[0].Row != 202 || rep.Issues[0].Code != "duplicate" || rep.Issues[0].Field != "external_id" {
			t.Fatalf("%+v", rep)
		}
		if n := len(e.all(t, "contacts")); n != 0 {
			t.Fatalf("rolled back import left %d rows", n)
		}
		upsert := `{"upsert_key":"external_id","columns":{"external_id":{"field":"external_id"},"last_name":{"field":"last_name"}}}`
		rep = e.run(t, "contacts", []byte(b.String()), upsert, false)
		if rep.Outcome != "committed" || rep.Failed != 0 || rep.Created != 299 || rep.Updated != 1 {
			t.Fatalf("%+v", rep)
		}
		rows, _, err := e.db.List(ctx, e.admin, mcrm.EntityByName("contacts"), sqlstore.ListQuery{Limit: 500, Filters: []sqlstore.Filter{{Field: "external_id", Op: "eq", Value: "K7"}}})
		if err != nil || len(rows) != 1 || rows[0]["last_name"] != "L200" || rows[0]["version"] != int64(2) {
			t.Fatalf("%v %+v", err, rows)
		}
	})
}
