package tabular

import (
	"fmt"
	"strings"
)

// candidates in tie-break order: comma first, as the most common.
var candidates = []byte{',', ';', '\t'}

// sniffRecords is how many records of the sample are looked at.
const sniffRecords = 100

func resolveDelimiter(opt string, sample []byte, complete bool) (rune, error) {
	switch strings.ToLower(opt) {
	case "", "auto":
		return sniffDelimiter(sample, complete), nil
	case ",", "comma":
		return ',', nil
	case ";", "semicolon":
		return ';', nil
	case "\t", "tab", `\t`:
		return '\t', nil
	}
	return 0, fmt.Errorf("tabular: unsupported delimiter %q", opt)
}

// sniffDelimiter picks, among comma, semicolon and tab, the delimiter for
// which the most records of the sample have the same field count, that
// count being more than 1. Fields are split the way encoding/csv will split
// them, so a delimiter inside a quoted field ("Horn, Shepard and Watson")
// does not count. Ties, and samples where no candidate gives more than one
// field, go to comma.
func sniffDelimiter(sample []byte, complete bool) rune {
	best, bestScore := byte(','), 0
	for _, d := range candidates {
		counts := fieldCounts(string(sample), d, complete)
		freq := map[int]int{}
		score := 0
		for _, c := range counts {
			if c < 2 {
				continue
			}
			freq[c]++
			score = max(score, freq[c])
		}
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	return rune(best)
}

// fieldCounts returns the number of fields of each record in s (up to
// sniffRecords), splitting on delim with RFC 4180 quoting. Blank lines are
// skipped, as encoding/csv does. When s is only the start of the input the
// last record may be cut short and is left out.
func fieldCounts(s string, delim byte, complete bool) []int {
	// Byte-wise scanning is safe: the delimiters, quote and line breaks are
	// ASCII, and in UTF-8 no byte of a multi-byte rune is below 0x80.
	var counts []int
	fields, inQuotes, atFieldStart, empty := 1, false, true, true
	for i := 0; i < len(s) && len(counts) < sniffRecords; i++ {
		c := s[i]
		if inQuotes {
			if c == '"' {
				if i+1 < len(s) && s[i+1] == '"' {
					i++ // escaped quote
				} else {
					inQuotes = false
				}
			}
			continue
		}
		switch c {
		case '"':
			if atFieldStart {
				inQuotes = true
			}
			atFieldStart, empty = false, false
		case delim:
			fields++
			atFieldStart, empty = true, false
		case '\n':
			if !empty {
				counts = append(counts, fields)
			}
			fields, atFieldStart, empty = 1, true, true
		case '\r':
			// Part of CRLF (encoding/csv does not treat a lone CR as a line
			// break either).
		default:
			atFieldStart, empty = false, false
		}
	}
	if complete && !empty && !inQuotes && len(counts) < sniffRecords {
		counts = append(counts, fields)
	}
	return counts
}
