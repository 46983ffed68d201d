package tabular

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// errRowTooLong is returned by limitReader when a record exceeds
// Options.MaxRowBytes.
var errRowTooLong = errors.New("record longer than the row size limit")

type csvReader struct {
	cr       *csv.Reader
	lim      *limitReader
	header   []string
	det      Detected
	maxRow   int64
	checkUTF bool
	lastEnd  int   // physical line where the previous record ended
	err      error // sticky, final error
}

func openCSV(br *bufio.Reader, sample []byte, complete bool, opts Options) (Reader, error) {
	encName, bomLen, err := resolveEncoding(opts.Encoding, sample, complete)
	if err != nil {
		return nil, err
	}
	if _, err := br.Discard(bomLen); err != nil {
		return nil, fmt.Errorf("tabular: reading input: %w", err)
	}
	sample = sample[bomLen:]

	var src io.Reader = br
	decodedSample := sample
	if enc := decoderFor(encName); enc != nil {
		src = transform.NewReader(br, enc.NewDecoder())
		decodedSample = decodeSample(enc, sample)
	}

	delim, err := resolveDelimiter(opts.Delimiter, decodedSample, complete)
	if err != nil {
		return nil, err
	}

	maxRow := int64(opts.MaxRowBytes)
	if maxRow <= 0 {
		maxRow = defaultMaxRowBytes
	}
	lim := &limitReader{r: src}
	cr := csv.NewReader(lim)
	cr.Comma = delim
	cr.LazyQuotes = false
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	r := &csvReader{
		cr:       cr,
		lim:      lim,
		det:      Detected{Format: "csv", Encoding: encName, Delimiter: string(delim)},
		maxRow:   maxRow,
		checkUTF: encName == encUTF8,
	}
	r.setLimit()

	hdr, _, err := r.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("tabular: no header row: %w", io.EOF)
		}
		return nil, fmt.Errorf("tabular: header: %w", err)
	}
	for i, h := range hdr {
		if i == 0 {
			// A second BOM (file saved twice by a BOM-adding editor) or a BOM
			// that did not match a forced encoding still must not end up in
			// the first column name.
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		hdr[i] = strings.TrimSpace(h)
	}
	r.header = hdr
	return r, nil
}

// decodeSample converts the sample to UTF-8 for delimiter sniffing. The
// decoders replace malformed input with U+FFFD rather than fail, but a
// sample cut inside a character may still be refused, so up to 3 trailing
// bytes are dropped until it decodes.
func decodeSample(enc encoding.Encoding, sample []byte) []byte {
	for cut := 0; cut <= 3 && cut <= len(sample); cut++ {
		if d, _, err := transform.Bytes(enc.NewDecoder(), sample[:len(sample)-cut]); err == nil {
			return d
		}
	}
	return nil
}

// setLimit lets the underlying reader deliver at most one record's worth of
// bytes beyond the current record start. The slack covers what
// csv.Reader's internal bufio.Reader may read ahead (4 KiB).
func (r *csvReader) setLimit() {
	r.lim.limit = r.cr.InputOffset() + r.maxRow + 4096
}

func (r *csvReader) Header() []string   { return r.header }
func (r *csvReader) Detected() Detected { return r.det }
func (r *csvReader) Close() error       { return nil }

func (r *csvReader) Next() ([]string, int, error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	start := r.cr.InputOffset()
	rec, err := r.cr.Read()
	if err != nil {
		var pe *csv.ParseError
		switch {
		case errors.Is(err, io.EOF):
			r.err = io.EOF
			return nil, 0, io.EOF
		case errors.Is(err, errRowTooLong):
			// csv.Reader passes reader errors through without a position,
			// so name the last line known to be good.
			r.err = fmt.Errorf("tabular: record after line %d: %w (%d bytes)", r.lastEnd, errRowTooLong, r.maxRow)
			return nil, r.lastEnd + 1, r.err
		case errors.As(err, &pe) && pe.Err != nil && isSyntaxError(pe.Err):
			// The csv.Reader has consumed the bad record; the caller may
			// report it and carry on.
			r.setLimit()
			r.lastEnd = pe.Line
			return nil, pe.StartLine, fmt.Errorf("tabular: line %d: malformed CSV: %w", pe.StartLine, err)
		default:
			r.err = fmt.Errorf("tabular: reading CSV: %w", err)
			return nil, 0, r.err
		}
	}
	line, _ := r.cr.FieldPos(0)
	if r.cr.InputOffset()-start > r.maxRow {
		r.err = fmt.Errorf("tabular: line %d: %w (%d bytes)", line, errRowTooLong, r.maxRow)
		return nil, line, r.err
	}
	r.setLimit()
	r.lastEnd = line
	for _, f := range rec {
		// csv.Reader turns line breaks inside quoted fields into "\n".
		r.lastEnd += strings.Count(f, "\n")
	}
	if r.checkUTF {
		for _, f := range rec {
			if !utf8.ValidString(f) {
				// The sample looked like UTF-8 but this record is not: the
				// file is probably in a legacy code page further down.
				r.err = fmt.Errorf("tabular: line %d: invalid UTF-8 (set the encoding explicitly, e.g. windows-1252 or gbk)", line)
				return nil, line, r.err
			}
		}
	}
	return rec, line, nil
}

func isSyntaxError(err error) bool {
	return errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrBareQuote) || errors.Is(err, csv.ErrFieldCount)
}

// limitReader returns errRowTooLong once more than limit bytes in total
// have been read.
type limitReader struct {
	r     io.Reader
	n     int64 // bytes delivered so far
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errRowTooLong
	}
	if rem := l.limit - l.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}
