package tabular

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

func buildWorkbook(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	style := func(s *excelize.Style) int {
		t.Helper()
		id, err := f.NewStyle(s)
		must(err)
		return id
	}
	custom := func(code string) int { return style(&excelize.Style{CustomNumFmt: &code}) }
	builtinDate := style(&excelize.Style{NumFmt: 14}) // m/d/yyyy, locale dependent
	dmy := custom("dd/mm/yyyy")
	longDate := custom(`[$-409]d\ mmmm\ yyyy;@`)
	dateTime := custom("dd.mm.yyyy hh:mm")
	timeOnly := custom("hh:mm")
	percent := style(&excelize.Style{NumFmt: 10})

	sheet := "Sheet1"
	rows := [][]any{
		{" Name ", "Company", "Amount", "Joined", "Born", "Long", "Seen", "Time", "Share", "Phone"},
		{"Zoë Ångström", "Horn, Shepard and Watson", 12.5, time.Date(2020, 8, 26, 0, 0, 0, 0, time.UTC), time.Date(1980, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2021, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2022, 3, 4, 15, 6, 7, 0, time.UTC), 0.5, 0.25, "+8613812341234"},
		nil, // blank row 3
		{"张伟", "", 42, "not a date"},
	}
	for i, row := range rows {
		if row == nil {
			continue
		}
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		must(err)
		must(f.SetSheetRow(sheet, cell, &row))
	}
	must(f.SetCellStyle(sheet, "D2", "D2", builtinDate))
	must(f.SetCellStyle(sheet, "E2", "E2", dmy))
	must(f.SetCellStyle(sheet, "F2", "F2", longDate))
	must(f.SetCellStyle(sheet, "G2", "G2", dateTime))
	must(f.SetCellStyle(sheet, "H2", "H2", timeOnly))
	must(f.SetCellStyle(sheet, "I2", "I2", percent))
	must(f.SetCellStyle(sheet, "D4", "D4", dmy)) // a string in a date-styled cell

	_, err := f.NewSheet("Second")
	must(err)
	must(f.SetSheetRow("Second", "A1", &[]any{"k", "v"}))
	must(f.SetSheetRow("Second", "A5", &[]any{"a", 1}))

	var buf bytes.Buffer
	_, err = f.WriteTo(&buf)
	must(err)
	return buf.Bytes()
}

func TestXLSX(t *testing.T) {
	data := buildWorkbook(t)
	r, err := Open(bytes.NewReader(data), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Detected(); got != (Detected{Format: "xlsx"}) {
		t.Errorf("Detected = %+v", got)
	}
	wantHeader := []string{"Name", "Company", "Amount", "Joined", "Born", "Long", "Seen", "Time", "Share", "Phone"}
	if got := r.Header(); !reflect.DeepEqual(got, wantHeader) {
		t.Errorf("Header = %q", got)
	}
	want := []wantRec{
		{[]string{"Zoë Ångström", "Horn, Shepard and Watson", "12.5", "2020-08-26", "1980-01-02", "2021-12-31", "2022-03-04T15:06:07Z", "12:00", "25.00%", "+8613812341234"}, 2},
		{[]string{"张伟", "", "42", "not a date"}, 4},
	}
	if got := readAll(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("records = %#v\nwant %#v", got, want)
	}
	if _, _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after end: %v", err)
	}

	// A named sheet, read with an explicit format.
	r2, err := Open(bytes.NewReader(data), Options{Format: "xlsx", Sheet: "Second"})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if got := r2.Header(); !reflect.DeepEqual(got, []string{"k", "v"}) {
		t.Errorf("Second header = %q", got)
	}
	if got := readAll(t, r2); !reflect.DeepEqual(got, []wantRec{{[]string{"a", "1"}, 5}}) {
		t.Errorf("Second records = %#v", got)
	}

	if _, err := Open(bytes.NewReader(data), Options{Sheet: "Missing"}); err == nil || !strings.Contains(err.Error(), `"Missing" not found`) {
		t.Errorf("missing sheet: err = %v", err)
	}
}

func TestXLSXCorrupt(t *testing.T) {
	// Zip magic but not a zip archive.
	if _, err := Open(strings.NewReader("PK\x03\x04garbage"), Options{}); err == nil {
		t.Fatal("corrupt xlsx opened without error")
	}
}

func TestClassifyNumFmt(t *testing.T) {
	tests := []struct {
		code string
		want fmtKind
	}{
		{"General", kindOther},
		{"0.00", kindOther},
		{"0.00E+00", kindOther},
		{`#,##0 ;[Red](#,##0)`, kindOther},
		{`_("$"* #,##0.00_)`, kindOther},
		{"@", kindOther},
		{`"Day "0`, kindOther},
		{"dd/mm/yyyy", kindDate},
		{"m/d/yy", kindDate},
		{"mmm-yy", kindDate},
		{`[$-409]d\ mmmm\ yyyy;@`, kindDate},
		{`yyyy"年"m"月"d"日"`, kindDate},
		{"[$-404]e/m/d", kindDate},
		{"dd.mm.yyyy hh:mm", kindDateTime},
		{"m/d/yy h:mm AM/PM", kindDateTime},
		{"hh:mm", kindTime},
		{"h:mm:ss AM/PM", kindTime},
		{"mm:ss", kindTime},
		{"[h]:mm:ss", kindTime},
	}
	for _, tt := range tests {
		if got := classifyNumFmt(tt.code); got != tt.want {
			t.Errorf("classifyNumFmt(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
}

// A workbook without xl/styles.xml is valid (Excel opens it) and must read.
func TestXLSXWithoutStyles(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := map[string]string{
		"[Content_Types].xml":        `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
		"_rels/.rels":                `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml":            `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml":   `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1" t="inlineStr"><is><t>employees</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>Initech</t></is></c><c r="B2"><v>120</v></c></row></sheetData></worksheet>`,
	}
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	r, err := Open(bytes.NewReader(buf.Bytes()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h := r.Header(); len(h) != 2 || h[0] != "name" || h[1] != "employees" {
		t.Fatalf("header %q", h)
	}
	rec, line, err := r.Next()
	if err != nil || line != 2 || len(rec) != 2 || rec[0] != "Initech" || rec[1] != "120" {
		t.Fatalf("%q %d %v", rec, line, err)
	}
}
