package mcrm

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Clients switch on it, so a
// code never changes meaning once shipped; httpapi maps each one to a status
// in a single table.
type Code string

const (
	ENotFound             Code = "not_found"
	EInvalid              Code = "invalid"
	EConflict             Code = "conflict"
	EPreconditionFailed   Code = "precondition_failed"
	EPreconditionRequired Code = "precondition_required"
	EUnauthorized         Code = "unauthorized"
	EForbidden            Code = "forbidden"
	ETooLarge             Code = "too_large"
	ERateLimited          Code = "rate_limited"
	EUnsupportedMedia     Code = "unsupported_media_type"
	EMethodNotAllowed     Code = "method_not_allowed"
	EInternal             Code = "internal"
	EUnavailable          Code = "unavailable"

	// EStepUpRequired: the operation needs a strong authentication in the
	// last 5 minutes (RFC 9470 names the error this way).
	EStepUpRequired Code = "insufficient_user_authentication"
)

// FieldError names one offending field (or CSV row and column) and why.
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Row     int    `json:"row,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is the domain error every layer returns. Message is safe to show to
// the caller: it never carries personal data or secrets, only field names and
// codes.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Err     error // wrapped cause, never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErr builds an EInvalid error about one field.
func FieldErr(field, code, msg string) *Error {
	return &Error{Code: EInvalid, Message: "validation failed", Fields: []FieldError{{Field: field, Code: code, Message: msg}}}
}

// ErrorCode returns the code of err, EInternal for anything that is not an
// *Error (an unexpected failure must never be reported as the client's fault).
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrNotFound is returned for missing records and for records the caller may
// not see: the two must be indistinguishable.
var ErrNotFound = &Error{Code: ENotFound, Message: "record not found"}
