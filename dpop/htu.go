package dpop

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

var errBadURL = errors.New("not an absolute http(s) URL")

// normalizeHTU reduces an http(s) URL to the form RFC 9449 §4.3 compares:
// no query, no fragment, and the syntax- and scheme-based normalisation of
// RFC 3986 §6.2.2 and §6.2.3 (lower-case scheme and host, upper-case
// percent-encoding hex, unreserved characters decoded, dot segments
// removed, default port dropped, empty path as "/"). Both the claim and the
// server's own view of the request go through it, so a client that writes
// "HTTPS://API.example.com:443/a/./b" still matches "https://api.example.com/a/b"
// while any real difference in path, host, port or scheme does not.
func normalizeHTU(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errBadURL
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Opaque != "" || u.Host == "" || u.User != nil {
		return "", errBadURL
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errBadURL
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return "", errBadURL
		}
		port = strconv.Itoa(n) // "0443" is port 443
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	p := removeDotSegments(normalizePercent(u.EscapedPath()))
	if p == "" {
		p = "/"
	}
	return scheme + "://" + host + p, nil
}

// normalizePercent upper-cases the hex digits of every percent-encoding
// and decodes those that stand for unreserved characters (RFC 3986
// §6.2.2.1 and §6.2.2.2). Malformed escapes are left as they are: they
// then only match the identical spelling.
func normalizePercent(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' || i+2 >= len(p) {
			b.WriteByte(c)
			continue
		}
		h, l := unhex(p[i+1]), unhex(p[i+2])
		if h < 0 || l < 0 {
			b.WriteByte(c)
			continue
		}
		v := byte(h<<4 | l)
		if isUnreserved(v) {
			b.WriteByte(v)
		} else {
			const hexdigits = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hexdigits[v>>4])
			b.WriteByte(hexdigits[v&15])
		}
		i += 2
	}
	return b.String()
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// removeDotSegments is the algorithm of RFC 3986 §5.2.4. path.Clean is not
// a substitute: it also merges "//" and drops a trailing "/", which change
// the resource a URL names.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	var out []string // output segments, each with its leading "/"
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			start := 0
			if in[0] == '/' {
				start = 1
			}
			end := strings.IndexByte(in[start:], '/')
			if end < 0 {
				end = len(in)
			} else {
				end += start
			}
			out = append(out, in[:end])
			in = in[end:]
		}
	}
	return strings.Join(out, "")
}
