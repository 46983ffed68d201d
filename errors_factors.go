package mcrm

// Field-level codes for passwords and second factors. They travel in
// FieldError.Code under one of the existing Codes (EInvalid for a refused
// new password, EUnauthorized for a refused one-time code, ERateLimited for
// a throttled factor), so clients can tell the cases apart without httpapi
// growing a status per reason.
const (
	// CodePasswordTooShort: fewer characters than the policy's minimum
	// (8 with a second factor, 15 when the password is the only factor).
	CodePasswordTooShort = "password_too_short"
	// CodePasswordTooLong: more than password.MaxLength characters.
	CodePasswordTooLong = "password_too_long"
	// CodePasswordBlocklisted: a common password, a context word (product,
	// tenant, user name) or one of those with digits and symbols around it.
	CodePasswordBlocklisted = "password_blocklisted"

	// CodeOTPInvalid: the one-time code matches no step in the drift window.
	CodeOTPInvalid = "otp_invalid"
	// CodeOTPReplay: the code is right but its time step was already used;
	// RFC 6238 §5.2 lets a code be accepted once only.
	CodeOTPReplay = "otp_replay"
	// CodeOTPThrottled: too many wrong codes; the factor refuses every code,
	// right or wrong, until the throttle ends.
	CodeOTPThrottled = "otp_throttled"
	// CodeRecoveryCodeInvalid: unknown or already used recovery code.
	CodeRecoveryCodeInvalid = "recovery_code_invalid"
)
