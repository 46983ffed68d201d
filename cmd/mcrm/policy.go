package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"

	"mcrm"
	"mcrm/sqlstore"
)

// cmdPolicyGet prints a tenant's authentication policy as JSON.
func cmdPolicyGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tenant policy get", "tenant policy get [--data-dir DIR] [--database-url URL] --tenant NAME", stderr)
	var d dbFlags
	d.register(fs)
	tenant := fs.String("tenant", "", "tenant name (required)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *tenant == "" {
		return exitError{2, "tenant policy get takes --tenant NAME and no arguments"}
	}
	db, t, _, err := openTenant(ctx, d, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	pol, err := db.AuthPolicy(ctx, t.ID)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(pol)
}

// cmdPolicySet replaces a tenant's authentication policy with the JSON on
// standard input. It is the operator's way in when no admin can sign in
// (break glass), so it is recorded like the API's change.
func cmdPolicySet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("tenant policy set", "tenant policy set [--data-dir DIR] [--database-url URL] --tenant NAME < policy.json", stderr)
	var d dbFlags
	d.register(fs)
	tenant := fs.String("tenant", "", "tenant name (required)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *tenant == "" {
		return exitError{2, "tenant policy set takes --tenant NAME and reads the policy from standard input"}
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	pol := mcrm.DefaultAuthPolicy()
	if err := dec.Decode(&pol); err != nil {
		return exitError{2, "the policy is not valid JSON for an authentication policy: " + jsonErrText(err)}
	}
	db, t, p, err := openTenant(ctx, d, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	ev := sqlstore.Event{TenantID: t.ID, Actor: "cli", Action: "authn_policy_change", Object: "auth_policy", Outcome: "success", Detail: "via=cli"}
	if err := db.SetAuthPolicy(ctx, p, pol, ev); err != nil {
		return err
	}
	stored, err := db.AuthPolicy(ctx, t.ID)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(stored)
}

// jsonErrText names what was wrong without echoing input values.
func jsonErrText(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errorsAs(err, &ute):
		return "field " + ute.Field + " has the wrong type"
	case errorsAs(err, &se):
		return "syntax error"
	}
	if msg := err.Error(); len(msg) < 120 {
		return msg
	}
	return "invalid"
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
