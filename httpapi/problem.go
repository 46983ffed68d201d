package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"mcrm"
	"mcrm/dpop"
)

// statusOf is the one table from domain error codes to HTTP statuses.
var statusOf = map[mcrm.Code]int{
	mcrm.ENotFound:             http.StatusNotFound,
	mcrm.EInvalid:              http.StatusBadRequest,
	mcrm.EConflict:             http.StatusConflict,
	mcrm.EPreconditionFailed:   http.StatusPreconditionFailed,
	mcrm.EPreconditionRequired: http.StatusPreconditionRequired,
	mcrm.EUnauthorized:         http.StatusUnauthorized,
	mcrm.EForbidden:            http.StatusForbidden,
	mcrm.ETooLarge:             http.StatusRequestEntityTooLarge,
	mcrm.ERateLimited:          http.StatusTooManyRequests,
	mcrm.EUnsupportedMedia:     http.StatusUnsupportedMediaType,
	mcrm.EMethodNotAllowed:     http.StatusMethodNotAllowed,
	mcrm.EUnavailable:          http.StatusServiceUnavailable,
	mcrm.EInternal:             http.StatusInternalServerError,
	mcrm.EStepUpRequired:       http.StatusUnauthorized,
}

// Problem is an RFC 9457 problem document with mcrm's stable code and
// per-field details.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Code      mcrm.Code         `json:"code"`
	Detail    string            `json:"detail,omitempty"`
	Errors    []mcrm.FieldError `json:"errors,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// writeError renders err as application/problem+json. Internal errors are
// logged with the request id and shown only as "internal error": their
// text may carry SQL or values.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var me *mcrm.Error
	p := Problem{Type: "about:blank", RequestID: requestID(r.Context())}
	if errors.As(err, &me) {
		p.Code = me.Code
		p.Detail = me.Message
		p.Errors = me.Fields
	} else {
		p.Code = mcrm.EInternal
		p.Detail = "internal error"
	}
	p.Status = statusOf[p.Code]
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	if p.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", slog.String("request_id", p.RequestID), slog.String("error", errText(err)))
		if p.Code == mcrm.EInternal {
			p.Detail = "internal error"
		}
	}
	for i := range p.Errors {
		// A field name can come from the request (an unknown column of an
		// uploaded file is its header cell): bound what is echoed back.
		if f := p.Errors[i].Field; len(f) > 100 {
			p.Errors[i].Field = strings.ToValidUTF8(f[:100], "") + "…"
		}
	}
	p.Title = http.StatusText(p.Status)
	if p.Status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if code, _ := dpop.Reason(err); code == dpop.CodeUseNonce && s.dpop != nil {
		w.Header().Set("DPoP-Nonce", s.dpop.Nonce())
	}
	if p.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		challenge(w, p.Code, p.Errors)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// errText is the error text for server logs. Driver errors can quote
// values; keep only the outer domain message when there is one.
func errText(err error) string {
	var me *mcrm.Error
	if errors.As(err, &me) {
		return string(me.Code) + ": " + me.Message
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}
