package tabular

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// Canonical encoding names, as reported in Detected.Encoding.
const (
	encUTF8    = "utf-8"
	encUTF16LE = "utf-16le"
	encUTF16BE = "utf-16be"
	encCP1252  = "windows-1252"
	encGBK     = "gbk"
)

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// resolveEncoding returns the canonical encoding for the option value, using
// the sample to detect it (or, for plain "utf-16", its byte order), and the
// number of leading BOM bytes to skip.
func resolveEncoding(opt string, sample []byte, complete bool) (name string, bomLen int, err error) {
	switch strings.ToLower(strings.TrimSpace(opt)) {
	case "", "auto":
		name = detectEncoding(sample, complete)
	case "utf-8", "utf8":
		name = encUTF8
	case "utf-16", "utf16":
		switch {
		case bytes.HasPrefix(sample, bomUTF16LE):
			name = encUTF16LE
		case bytes.HasPrefix(sample, bomUTF16BE):
			name = encUTF16BE
		default:
			name = utf16ByNULs(sample)
			if name == "" {
				// Without a BOM or ASCII to judge by, little endian is what
				// Windows (and so most spreadsheet exports) writes.
				name = encUTF16LE
			}
		}
	case "utf-16le", "utf16le":
		name = encUTF16LE
	case "utf-16be", "utf16be":
		name = encUTF16BE
	case "windows-1252", "cp1252":
		name = encCP1252
	case "gbk", "cp936":
		name = encGBK
	default:
		return "", 0, fmt.Errorf("tabular: unsupported encoding %q", opt)
	}
	// A BOM is skipped only when it matches the encoding in use, so a forced
	// windows-1252 still shows "ï»¿" for a UTF-8 file rather than hiding
	// the mismatch.
	switch {
	case name == encUTF8 && bytes.HasPrefix(sample, bomUTF8):
		bomLen = 3
	case name == encUTF16LE && bytes.HasPrefix(sample, bomUTF16LE):
		bomLen = 2
	case name == encUTF16BE && bytes.HasPrefix(sample, bomUTF16BE):
		bomLen = 2
	}
	return name, bomLen, nil
}

// decoderFor returns the x/text encoding for a canonical name, or nil for
// UTF-8, which needs no transformation.
func decoderFor(name string) encoding.Encoding {
	switch name {
	case encUTF16LE:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case encUTF16BE:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	case encCP1252:
		return charmap.Windows1252
	case encGBK:
		return simplifiedchinese.GBK
	}
	return nil
}

// detectEncoding guesses the encoding of a sample, in this order:
//
//  1. a byte order mark (UTF-8, UTF-16 LE, UTF-16 BE) decides;
//  2. UTF-16 without BOM is recognised by its NUL bytes: text that is
//     mostly ASCII has a NUL in every other byte, at odd offsets for little
//     endian and even offsets for big endian (CSV text always contains
//     ASCII delimiters and line breaks, so this is reliable);
//  3. a sample that is valid UTF-8 is UTF-8 (this includes pure ASCII);
//  4. otherwise the choice is between GBK and Windows-1252, the two legacy
//     code pages spreadsheet exports commonly use. Every byte string is
//     valid Windows-1252, so GBK must earn its place: the sample must be
//     well-formed GBK (lead bytes 0x81-0xFE each followed by a trail byte
//     0x40-0xFE except 0x7F), contain at least one double-byte sequence,
//     and at least 60% of those sequences must lie in the GB2312 area
//     (both bytes 0xA1-0xFE) where common Chinese text lives. Latin text
//     in Windows-1252 fails this: an accented letter followed by a space or
//     punctuation is malformed GBK, and one followed by an ASCII letter
//     ("Ångström": C5 6E) forms a pair outside the GB2312 area.
//
// The heuristic can be fooled by short samples, which is why the caller
// may force the encoding with Options.Encoding.
func detectEncoding(sample []byte, complete bool) string {
	switch {
	case bytes.HasPrefix(sample, bomUTF8):
		return encUTF8
	case bytes.HasPrefix(sample, bomUTF16LE):
		return encUTF16LE
	case bytes.HasPrefix(sample, bomUTF16BE):
		return encUTF16BE
	}
	if name := utf16ByNULs(sample); name != "" {
		return name
	}
	if validUTF8Prefix(sample, complete) {
		return encUTF8
	}
	if looksGBK(sample, complete) {
		return encGBK
	}
	return encCP1252
}

// utf16ByNULs returns encUTF16LE or encUTF16BE when at least a quarter of
// the 2-byte units have a NUL on one side and almost none on the other, and
// "" otherwise.
func utf16ByNULs(sample []byte) string {
	units := len(sample) / 2
	if units == 0 {
		return ""
	}
	var even, odd int
	for i := 0; i+1 < len(sample); i += 2 {
		if sample[i] == 0 {
			even++
		}
		if sample[i+1] == 0 {
			odd++
		}
	}
	switch {
	case odd*4 >= units && even*20 <= units:
		return encUTF16LE
	case even*4 >= units && odd*20 <= units:
		return encUTF16BE
	}
	return ""
}

// validUTF8Prefix reports whether the sample is valid UTF-8, allowing an
// incomplete rune at the end when the sample was cut from a longer input.
func validUTF8Prefix(sample []byte, complete bool) bool {
	if utf8.Valid(sample) {
		return true
	}
	if complete {
		return false
	}
	for cut := 1; cut <= 3 && cut < len(sample); cut++ {
		if utf8.Valid(sample[:len(sample)-cut]) {
			// Make sure the cut bytes are the start of a rune, not garbage.
			return !utf8.FullRune(sample[len(sample)-cut:])
		}
	}
	return false
}

// looksGBK implements step 4 of detectEncoding.
func looksGBK(sample []byte, complete bool) bool {
	var pairs, gb2312 int
	for i := 0; i < len(sample); i++ {
		b := sample[i]
		if b < 0x80 {
			continue
		}
		if b == 0x80 || b == 0xFF {
			return false
		}
		if i+1 >= len(sample) {
			// A lead byte cut off at the end of a partial sample is fine.
			return !complete && pairs > 0 && gb2312*10 >= pairs*6
		}
		t := sample[i+1]
		if t < 0x40 || t == 0x7F || t == 0xFF {
			return false
		}
		pairs++
		if b >= 0xA1 && t >= 0xA1 {
			gb2312++
		}
		i++
	}
	return pairs > 0 && gb2312*10 >= pairs*6
}
