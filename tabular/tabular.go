// Package tabular reads and writes tables (CSV and XLSX) the way people
// really have them: in UTF-8 with or without a byte order mark, UTF-16 from
// Excel's "Unicode text", Windows-1252 from older Western tools, GBK from
// Chinese-locale Excel, separated by commas, semicolons or tabs.
//
// Reading is streaming: CSV memory use does not grow with the file (only a
// 64 KiB sample is held for detection plus one record at a time), so an
// importer can process files of any length. XLSX files are zip archives,
// which need random access, so they are buffered, with size limits against
// zip bombs, and their rows are then streamed.
//
// XLSX cells are returned as Excel displays them (number formats applied),
// except dates: a cell with a date format is returned as YYYY-MM-DD, or as
// RFC 3339 (YYYY-MM-DDThh:mm:ssZ) when the format shows a time, so callers
// never have to guess whether a displayed "03/04/20" is March or April.
// Time-only formats are returned as displayed.
package tabular

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Options control how Open reads its input. The zero value detects
// everything.
type Options struct {
	// Format is "", "csv" or "xlsx"; "" detects: XLSX when the input starts
	// with the zip signature "PK\x03\x04", CSV otherwise.
	Format string
	// Encoding of a CSV file: "", "auto", "utf-8", "utf-16", "utf-16le",
	// "utf-16be", "windows-1252" or "gbk"; "" and "auto" detect (see
	// detectEncoding for the heuristic). Detection can be wrong for short
	// or unusual files, so importers should let the user force it.
	Encoding string
	// Delimiter of a CSV file: "", "auto", ",", ";", "\t" (also "comma",
	// "semicolon", "tab"); "" and "auto" sniff it from the first lines.
	Delimiter string
	// Sheet is the XLSX sheet name to read; "" means the first sheet.
	Sheet string
	// MaxRowBytes limits one CSV record (after decoding to UTF-8); 0 means
	// 1 MiB. It bounds memory on a file with an unterminated quote, which
	// would otherwise swallow the rest of the file into one field.
	MaxRowBytes int
}

// Detected reports what Open used, detected or given: Format is "csv" or
// "xlsx"; Encoding is one of "utf-8", "utf-16le", "utf-16be",
// "windows-1252", "gbk" (empty for xlsx); Delimiter is ",", ";" or "\t"
// (empty for xlsx).
type Detected struct{ Format, Encoding, Delimiter string }

// Reader reads records after the header.
type Reader interface {
	// Header returns the header row (the first non-blank record), with a
	// byte order mark removed and each cell trimmed of surrounding spaces.
	Header() []string
	// Next returns the next record, and the 1-based physical line (CSV) or
	// row number (XLSX) where it starts; the header's line is 1 when the
	// file does not start with blank lines. At the end it returns io.EOF.
	// Records may have more or fewer fields than the header: reporting
	// ragged rows is the caller's job. A malformed CSV record gives an
	// error naming its line (wrapping *csv.ParseError); Next can be called
	// again to continue with the following records. Other errors (I/O,
	// a record over MaxRowBytes, invalid UTF-8) are final.
	Next() (rec []string, line int, err error)
	// Detected reports the format, encoding and delimiter in use.
	Detected() Detected
	// Close releases resources (temporary files of large XLSX sheets). It
	// does not close the io.Reader given to Open.
	Close() error
}

const (
	sampleSize         = 64 << 10
	defaultMaxRowBytes = 1 << 20
	// maxXLSXSize bounds both the compressed input buffered for an XLSX file
	// and the total uncompressed size of its parts (zip bomb guard).
	maxXLSXSize = 256 << 20
	// maxXLSXPartInMemory is the size above which excelize unpacks a
	// worksheet to a temporary file instead of memory.
	maxXLSXPartInMemory = 16 << 20
)

// Open starts reading a CSV or XLSX table from r. It reads the header row
// before returning; an input without any record is an error wrapping
// io.EOF.
func Open(r io.Reader, opts Options) (Reader, error) {
	br := bufio.NewReaderSize(r, sampleSize)
	// Peek returns what is available even when it errors (short file).
	sample, err := br.Peek(sampleSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("tabular: reading input: %w", err)
	}
	complete := err != nil // the sample is the whole input

	format := strings.ToLower(strings.TrimSpace(opts.Format))
	switch format {
	case "":
		format = "csv"
		if strings.HasPrefix(string(sample[:min(4, len(sample))]), "PK\x03\x04") {
			format = "xlsx"
		}
	case "csv", "xlsx":
	default:
		return nil, fmt.Errorf("tabular: unknown format %q", opts.Format)
	}
	if format == "xlsx" {
		return openXLSX(br, opts)
	}
	return openCSV(br, sample, complete, opts)
}
