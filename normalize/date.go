// Package normalize turns the loosely formatted values found in contact
// imports (dates, phone numbers, e-mail addresses) into canonical forms the
// importer can store and match on. Every function is pure and never guesses:
// when a value could mean two things the caller gets an error it can report
// to the user instead of silently storing a wrong value.
package normalize

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DateOrder tells Date how to read day-month-year dates that are not ISO.
// The order is a property of the file being imported (chosen by the user or
// the import profile), never inferred from individual values.
type DateOrder string

// Supported date orders.
const (
	ISO DateOrder = "ISO"
	DMY DateOrder = "DMY"
	MDY DateOrder = "MDY"
)

var (
	// ErrAmbiguousDate is returned when a value is a plausible date but its
	// meaning depends on information we do not have (the day/month order or
	// the century of a two-digit year).
	ErrAmbiguousDate = errors.New("ambiguous date")
	// ErrInvalidDate is returned when a value is not a date in the requested
	// order, or names a day that does not exist in the calendar.
	ErrInvalidDate = errors.New("invalid date")
)

// Date parses s and returns it as YYYY-MM-DD.
//
// Accepted forms:
//   - ISO dates YYYY-MM-DD (also YYYY/MM/DD and YYYY.MM.DD, and one-digit
//     month or day) whatever the order, because a leading four-digit year is
//     read the same way everywhere;
//   - RFC 3339 timestamps, and the same without a zone offset or with a
//     space instead of 'T'; the date is returned as written, without
//     converting to UTC, so that a birthday stored as local midnight does
//     not move to the previous day;
//   - with order DMY: D-M-YYYY, D/M/YYYY or D.M.YYYY (one or two digits for
//     day and month); with order MDY the same with month first.
//
// With order "" or ISO a non-ISO date such as 03/04/2020 is ErrAmbiguousDate
// even when only one reading is valid (25/12/2020): the importer asks the
// user for the order once instead of guessing per row. With an explicit
// order, a value that only makes sense in the other order (13/25/2020 read
// as DMY, 25/12/2020 read as MDY) is ErrInvalidDate, as is a day that does
// not exist (31-02-2020). Two-digit years are ErrAmbiguousDate.
// Errors wrap the sentinels with the offending value.
func Date(s string, order DateOrder) (string, error) {
	s = strings.TrimSpace(s)
	switch order {
	case "", ISO, DMY, MDY:
	default:
		return "", fmt.Errorf("normalize: unknown date order %q", string(order))
	}
	if s == "" {
		return "", fmt.Errorf("%w: empty value", ErrInvalidDate)
	}
	if d, ok := timestampDate(s); ok {
		return d, nil
	}
	parts := splitDate(s)
	if parts == nil {
		return "", fmt.Errorf("%w: the value is not a recognised date", ErrInvalidDate)
	}
	a, b, c := parts[0], parts[1], parts[2]
	if len(a) == 4 {
		// Year first: always year-month-day.
		if len(b) > 2 || len(c) > 2 {
			return "", fmt.Errorf("%w: the value is not a recognised date", ErrInvalidDate)
		}
		return ymd(s, a, b, c)
	}
	if len(a) > 2 || len(b) > 2 {
		return "", fmt.Errorf("%w: the value is not a recognised date", ErrInvalidDate)
	}
	switch len(c) {
	case 4:
	case 2:
		return "", fmt.Errorf("%w: the value has a two-digit year", ErrAmbiguousDate)
	default:
		return "", fmt.Errorf("%w: the value is not a recognised date", ErrInvalidDate)
	}
	var d, m string
	var other string
	switch order {
	case DMY:
		d, m, other = a, b, "month-day-year"
	case MDY:
		m, d, other = a, b, "day-month-year"
	default:
		return "", fmt.Errorf("%w: the value could be day-month-year or month-day-year; set the date order", ErrAmbiguousDate)
	}
	if res, ok := toDate(c, m, d); ok {
		return res, nil
	}
	if _, ok := toDate(c, d, m); ok {
		// Report the likely mix-up rather than a bare "invalid".
		return "", fmt.Errorf("%w: the value is not a valid %s date (it would be valid as %s)", ErrInvalidDate, order, other)
	}
	return "", fmt.Errorf("%w: the value is not a calendar date", ErrInvalidDate)
}

// timestampDate recognises RFC 3339 timestamps (with or without a zone
// offset, with 'T' or a space between date and time) and returns their date
// part as written.
func timestampDate(s string) (string, bool) {
	if len(s) < len("2006-01-02T15:04") || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
		return "", false
	}
	layouts := []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02 15:04",
	}
	norm := s
	if s[10] == 't' {
		norm = s[:10] + "T" + s[11:]
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, norm); err == nil {
			return t.Format("2006-01-02"), true
		}
	}
	return "", false
}

// splitDate splits s into three digit groups separated by one consistent
// separator ('-', '/' or '.'). It returns nil when s has another shape.
func splitDate(s string) []string {
	var sep byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= '0' && ch <= '9' {
			continue
		}
		if ch != '-' && ch != '/' && ch != '.' {
			return nil
		}
		if sep == 0 {
			sep = ch
		} else if ch != sep {
			return nil
		}
	}
	if sep == 0 {
		return nil
	}
	parts := strings.Split(s, string(sep))
	if len(parts) != 3 {
		return nil
	}
	for _, p := range parts {
		if p == "" {
			return nil
		}
	}
	return parts
}

func ymd(orig, y, m, d string) (string, error) {
	res, ok := toDate(y, m, d)
	if !ok {
		return "", fmt.Errorf("%w: the value is not a calendar date", ErrInvalidDate)
	}
	return res, nil
}

// toDate validates a year/month/day triple against the Gregorian calendar
// (time.Date normalises overflow, so a round trip detects 31 February).
func toDate(ys, ms, ds string) (string, bool) {
	y, err1 := strconv.Atoi(ys)
	m, err2 := strconv.Atoi(ms)
	d, err3 := strconv.Atoi(ds)
	if err1 != nil || err2 != nil || err3 != nil || y < 1 || m < 1 || m > 12 || d < 1 || d > 31 {
		return "", false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return "", false
	}
	return t.Format("2006-01-02"), true
}
