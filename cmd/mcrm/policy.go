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

// policyArgs parses the options both policy commands take: the database
// flags and --tenant, and no arguments.
func policyArgs(name, usage, noArgs string, args []string, stderr io.Writer) (dbFlags, string, error) {
	fs := newFlagSet(name, usage, stderr)
	var d dbFlags
	d.register(fs)
	tenant := fs.String("tenant", "", "tenant name (required)")
	if pos, err := parse(fs, args); err != nil {
		return d, "", err
	} else if len(pos) > 0 || *tenant == "" {
		return d, "", exitError{2, noArgs}
	}
	return d, *tenant, nil
}

func printPolicy(w io.Writer, pol mcrm.AuthPolicy) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(pol)
}

// cmdPolicyGet prints a tenant's authentication policy as JSON.
func cmdPolicyGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d, tenant, err := policyArgs("tenant policy get", "tenant policy get [--data-dir DIR] [--database-url URL] --tenant NAME",
		"tenant policy get takes --tenant NAME and no arguments", args, stderr)
	if err != nil {
		return err
	}
	db, t, _, err := openTenant(ctx, d, tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	pol, err := db.AuthPolicy(ctx, t.ID)
	if err != nil {
		return err
	}
	return printPolicy(stdout, pol)
}

// cmdPolicySet replaces a tenant's authentication policy with the JSON on
// standard input. It is the operator's way in when no admin can sign in
// (break glass), so it is recorded like the API's change.
func cmdPolicySet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	d, tenant, err := policyArgs("tenant policy set", "tenant policy set [--data-dir DIR] [--database-url URL] --tenant NAME < policy.json",
		"tenant policy set takes --tenant NAME and reads the policy from standard input", args, stderr)
	if err != nil {
		return err
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
	db, t, p, err := openTenant(ctx, d, tenant)
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
	return printPolicy(stdout, stored)
}

// jsonErrText names what was wrong without echoing input values.
func jsonErrText(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return "field " + ute.Field + " has the wrong type"
	case errors.As(err, &se):
		return "syntax error"
	}
	if msg := err.Error(); len(msg) < 120 {
		return msg
	}
	return "invalid"
}
