package tabular

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// ISO renderings applied to date-formatted cells. Date-times are RFC 3339
// with a nominal "Z": XLSX stores wall-clock times without a zone, and like
// excelize.ExcelDateToTime we read them as UTC, so that RFC 3339 parsers
// accept the value and its date part is the date shown in Excel.
const (
	isoDateFmt     = "yyyy-mm-dd"
	isoDateTimeFmt = `yyyy-mm-dd"T"hh:mm:ss"Z"`
)

type xlsxReader struct {
	f      *excelize.File
	rows   *excelize.Rows
	header []string
	row    int // row number of the last row returned by rows.Next
	err    error
}

func openXLSX(r io.Reader, opts Options) (Reader, error) {
	// excelize reads the whole archive into memory (zip needs random
	// access); the LimitReader stops an endless or huge input before that,
	// and UnzipSizeLimit bounds what the archive may expand to.
	lr := &io.LimitedReader{R: r, N: maxXLSXSize + 1}
	f, err := excelize.OpenReader(lr, excelize.Options{
		UnzipSizeLimit:    maxXLSXSize,
		UnzipXMLSizeLimit: maxXLSXPartInMemory,
	})
	if lr.N <= 0 {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("tabular: xlsx input larger than %d bytes", maxXLSXSize)
	}
	if err != nil {
		return nil, fmt.Errorf("tabular: opening xlsx: %w", err)
	}
	x := &xlsxReader{f: f}
	if err := x.init(opts.Sheet); err != nil {
		f.Close()
		return nil, err
	}
	return x, nil
}

func (x *xlsxReader) init(sheet string) error {
	sheets := x.f.GetSheetList()
	if sheet == "" {
		if len(sheets) == 0 {
			return errors.New("tabular: xlsx workbook has no sheets")
		}
		sheet = sheets[0]
	} else if idx, err := x.f.GetSheetIndex(sheet); err != nil || idx < 0 {
		return fmt.Errorf("tabular: xlsx sheet %q not found (sheets: %s)", sheet, strings.Join(sheets, ", "))
	}
	if err := isoDates(x.f); err != nil {
		return fmt.Errorf("tabular: xlsx styles: %w", err)
	}
	rows, err := x.f.Rows(sheet)
	if err != nil {
		return fmt.Errorf("tabular: xlsx sheet %q: %w", sheet, err)
	}
	x.rows = rows
	hdr, _, err := x.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("tabular: no header row: %w", io.EOF)
		}
		return fmt.Errorf("tabular: header: %w", err)
	}
	for i, h := range hdr {
		hdr[i] = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))
	}
	x.header = hdr
	return nil
}

func (x *xlsxReader) Header() []string { return x.header }

func (x *xlsxReader) Detected() Detected { return Detected{Format: "xlsx"} }

// Next returns the next row that has at least one non-empty cell; rows that
// look empty in Excel (no cells, or only formatting) are skipped like blank
// CSV lines, and the row numbers stay those of the sheet.
func (x *xlsxReader) Next() ([]string, int, error) {
	if x.err != nil {
		return nil, 0, x.err
	}
	for x.rows.Next() {
		x.row++
		cols, err := x.rows.Columns()
		if err != nil {
			x.err = fmt.Errorf("tabular: xlsx row %d: %w", x.row, err)
			return nil, x.row, x.err
		}
		for _, c := range cols {
			if c != "" {
				return cols, x.row, nil
			}
		}
	}
	if err := x.rows.Error(); err != nil {
		x.err = fmt.Errorf("tabular: xlsx after row %d: %w", x.row, err)
		return nil, 0, x.err
	}
	x.err = io.EOF
	return nil, 0, io.EOF
}

func (x *xlsxReader) Close() error {
	var err error
	if x.rows != nil {
		err = x.rows.Close()
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// isoDates makes every date or date-time cell style of the workbook render
// as ISO 8601, so callers never have to guess whether "03/04/20" (a
// locale-dependent display format) is March or April. excelize's streaming
// Rows iterator formats cells through the workbook's styles and does not
// expose each cell's style, so the styles themselves are redirected: each
// cell format (xf) whose number format is a date is pointed at an ISO
// number format registered with NewStyle. Time-only formats are left alone.
// This only changes the in-memory copy; the input is never written back.
func isoDates(f *excelize.File) error {
	// GetStyle loads the style sheet into f.Styles. A workbook without
	// one (valid: Excel opens it) has no cell formats, so no date cells
	// to redirect.
	if _, err := f.GetStyle(0); err != nil {
		if f.Styles == nil || f.Styles.CellXfs == nil || len(f.Styles.CellXfs.Xf) == 0 {
			return nil
		}
		return err
	}
	dateFmt, err := customNumFmtID(f, isoDateFmt)
	if err != nil {
		return err
	}
	dateTimeFmt, err := customNumFmtID(f, isoDateTimeFmt)
	if err != nil {
		return err
	}
	ss := f.Styles
	if ss == nil || ss.CellXfs == nil {
		return nil
	}
	custom := map[int]string{}
	if ss.NumFmts != nil {
		for _, nf := range ss.NumFmts.NumFmt {
			code := nf.FormatCode
			if nf.FormatCode16 != "" {
				code = nf.FormatCode16
			}
			custom[nf.NumFmtID] = code
		}
	}
	for i := range ss.CellXfs.Xf {
		xf := &ss.CellXfs.Xf[i]
		id := 0
		if xf.NumFmtID != nil {
			id = *xf.NumFmtID
		}
		var kind fmtKind
		if code, ok := custom[id]; ok {
			kind = classifyNumFmt(code)
		} else {
			kind = builtInKind(id)
		}
		switch kind {
		case kindDate:
			xf.NumFmtID = &dateFmt
		case kindDateTime:
			xf.NumFmtID = &dateTimeFmt
		}
	}
	return nil
}

// customNumFmtID registers a custom number format and returns its id.
func customNumFmtID(f *excelize.File, code string) (int, error) {
	style, err := f.NewStyle(&excelize.Style{CustomNumFmt: &code})
	if err != nil {
		return 0, err
	}
	xf := f.Styles.CellXfs.Xf[style]
	if xf.NumFmtID == nil {
		return 0, fmt.Errorf("number format %q not registered", code)
	}
	return *xf.NumFmtID, nil
}

type fmtKind int

const (
	kindOther fmtKind = iota
	kindDate
	kindDateTime
	kindTime
)

// builtInKind classifies the built-in number formats (ECMA-376 part 1,
// 18.8.30, plus the East Asian ids 27-36 and 50-58 whose codes depend on
// the locale but which are dates or times in every locale).
func builtInKind(id int) fmtKind {
	switch {
	case id >= 14 && id <= 17, id >= 27 && id <= 31, id == 36, id == 50, id == 51, id == 54, id == 57, id == 58:
		return kindDate
	case id == 22:
		return kindDateTime
	case id >= 18 && id <= 21, id >= 32 && id <= 35, id >= 45 && id <= 47, id == 52, id == 53, id == 55, id == 56:
		return kindTime
	}
	return kindOther
}

// classifyNumFmt tells date, date-time and time formats from the others by
// looking for date and time tokens outside literal text. Only the first
// section (positive numbers) matters for a date.
func classifyNumFmt(code string) fmtKind {
	var b strings.Builder
	elapsed := false
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch c {
		case ';':
			i = len(code) // first section only
		case '"':
			// Quoted literal text.
			for i++; i < len(code) && code[i] != '"'; i++ {
			}
		case '\\', '_', '*':
			// Escaped character, padding and fill: the next char is literal.
			i++
		case '[':
			j := strings.IndexByte(code[i:], ']')
			if j < 0 {
				i = len(code)
				break
			}
			inner := strings.ToLower(code[i+1 : i+j])
			if inner != "" && strings.Trim(inner, "hms") == "" {
				elapsed = true // [h]:mm elapsed time, a duration
			}
			i += j
		default:
			b.WriteByte(c)
		}
	}
	s := strings.ToLower(b.String())
	if s == "general" || s == "" {
		return kindOther
	}
	s = strings.NewReplacer("am/pm", "", "a/p", "").Replace(s)
	var hasDate, hasTime, hasM bool
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 'y', 'd', 'g':
			hasDate = true
		case 'e':
			// Era year, unless it is the exponent of a scientific format.
			if i+1 >= len(s) || (s[i+1] != '+' && s[i+1] != '-') {
				hasDate = true
			}
		case 'h', 's':
			hasTime = true
		case 'm':
			hasM = true
		}
	}
	switch {
	case elapsed:
		return kindTime
	case hasDate && hasTime:
		return kindDateTime
	case hasDate, hasM && !hasTime:
		return kindDate
	case hasTime:
		return kindTime
	}
	return kindOther
}
