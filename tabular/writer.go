package tabular

import (
	"encoding/csv"
	"io"
)

// CSVWriter writes UTF-8, comma-separated CSV with "\n" line endings
// (spreadsheets and encoding/csv read both; "\n" keeps exports diffable),
// neutralising spreadsheet formulas in every cell.
type CSVWriter struct {
	w   *csv.Writer
	buf []string
}

// NewCSVWriter returns a writer to w. Call Flush when done.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: csv.NewWriter(w)}
}

// Write writes one record, each cell passed through Neutralize. rec is not
// modified.
func (w *CSVWriter) Write(rec []string) error {
	w.buf = w.buf[:0]
	for _, c := range rec {
		w.buf = append(w.buf, Neutralize(c))
	}
	return w.w.Write(w.buf)
}

// Flush writes buffered data and returns any write error.
func (w *CSVWriter) Flush() error {
	w.w.Flush()
	return w.w.Error()
}

// Neutralize defends against CSV formula injection (a cell such as
// =HYPERLINK(...) or @SUM(...) that a spreadsheet would execute when the
// export is opened): a cell starting with = + - @ TAB CR, or with the quote
// character itself, gets a leading single quote ('), which spreadsheets
// treat as "this is text". The quote itself is included so that
// Unneutralize can undo the escaping exactly (a cell that really starts
// with ' would otherwise lose it on re-import).
//
// Plain numbers matching ^-?[0-9]+(\.[0-9]+)?$ ("-12.5") are left alone so
// negative amounts stay numbers; "+3" is not plain and is escaped, because a
// leading + starts a formula in Excel.
func Neutralize(cell string) string {
	if cell == "" || !isTrigger(cell[0]) || isPlainNumber(cell) {
		return cell
	}
	return "'" + cell
}

// Unneutralize is the inverse of Neutralize, for re-importing an export: a
// leading ' followed by one of = + - @ TAB CR ' is dropped; any other cell is
// returned unchanged. Unneutralize(Neutralize(s)) == s for every s.
func Unneutralize(cell string) string {
	if len(cell) >= 2 && cell[0] == '\'' && isTrigger(cell[1]) {
		return cell[1:]
	}
	return cell
}

func isTrigger(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return true
	}
	return false
}

// isPlainNumber reports whether s matches ^-?[0-9]+(\.[0-9]+)?$.
func isPlainNumber(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	intDigits := 0
	for intDigits < len(s) && s[intDigits] >= '0' && s[intDigits] <= '9' {
		intDigits++
	}
	if intDigits == 0 {
		return false
	}
	s = s[intDigits:]
	if s == "" {
		return true
	}
	if s[0] != '.' || len(s) == 1 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
