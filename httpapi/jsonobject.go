package httpapi

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"mcrm/record"
)

// object is a JSON object whose keys keep the registry's field order.
// encoding/json sorts map keys on every encode, which was the largest cost
// of rendering a page of records; this writes the common value types
// directly and hands anything else to encoding/json.
type object struct {
	keys []string
	vals []any
}

func newObject(n int) *object { return &object{keys: make([]string, 0, n), vals: make([]any, 0, n)} }

// Set adds or replaces a key.
func (o *object) Set(k string, v any) {
	for i, have := range o.keys {
		if have == k {
			o.vals[i] = v
			return
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// Get returns the value of a key.
func (o *object) Get(k string) any {
	for i, have := range o.keys {
		if have == k {
			return o.vals[i]
		}
	}
	return nil
}

// MarshalJSON writes the object with its keys in insertion order.
func (o *object) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64*len(o.keys))
	b = append(b, '{')
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, o.vals[i]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case record.Money:
		return append(b, x.String()...), nil
	case json.RawMessage:
		// Stored list JSON, written by encoding/json: already valid JSON.
		return append(b, x...), nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, raw...), nil
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string exactly as encoding/json does by
// default (HTML-safe: <, > and & escaped; U+2028 and U+2029 escaped;
// invalid UTF-8 replaced by U+FFFD). TestAppendStringMatchesEncodingJSON
// holds it to that.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
