package sqlstore_test

import (
	"errors"
	"testing"

	"mcrm"
	"mcrm/dbtest"
	"mcrm/sqlstore"
)

func TestContractAuthPolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f := setup(t, db)
		got, err := db.AuthPolicy(ctx, f.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.RequiresMFA(mcrm.RoleSalesRep) || !got.Allows(mcrm.FactorPasskey) || got.RiskAction("high") != mcrm.RiskDeny {
			t.Fatalf("a tenant without a row must get the default policy, got %+v", got)
		}
		ev := sqlstore.Event{TenantID: f.tenant.ID, Actor: f.admin.UserID, Action: "authz_policy_change", Object: "auth_policy", Outcome: "success"}

		// An invalid policy is refused with the field named and leaves no trace.
		bad := mcrm.DefaultAuthPolicy()
		bad.MFARequiredRoles = []string{"janitor"}
		err = db.SetAuthPolicy(ctx, f.admin, bad, ev)
		var me *mcrm.Error
		if !errors.As(err, &me) || me.Code != mcrm.EInvalid || me.Fields[0].Field != "mfa_required_roles" {
			t.Fatalf("invalid role: %v", err)
		}
		if n, _ := db.CountEvents(ctx, f.tenant.ID, "authz_policy_change"); n != 0 {
			t.Fatalf("refused policy recorded %d events", n)
		}

		pol := mcrm.DefaultAuthPolicy()
		pol.MFARequiredRoles = []string{mcrm.RoleAdmin}
		pol.AllowedFactors = []string{mcrm.FactorPasskey}
		pol.RequireDPoP = true
		for range 2 {
			if err := db.SetAuthPolicy(ctx, f.admin, pol, ev); err != nil {
				t.Fatal(err)
			}
		}
		got, err = db.AuthPolicy(ctx, f.tenant.ID)
		if err != nil || got.RequiresMFA(mcrm.RoleSalesRep) || !got.RequiresMFA(mcrm.RoleAdmin) || got.Allows(mcrm.FactorTOTP) || !got.RequireDPoP {
			t.Fatalf("round trip: %v %+v", err, got)
		}
		if n, _ := db.CountEvents(ctx, f.tenant.ID, "authz_policy_change"); n != 2 {
			t.Fatalf("events: %d, want 2", n)
		}
		var version int
		if err := db.SQL().QueryRow(`SELECT version FROM auth_policies WHERE tenant_id = $1`, f.tenant.ID).Scan(&version); err != nil || version != 2 {
			t.Fatalf("version %d %v", version, err)
		}
		// Another tenant keeps its own (default) policy.
		other, _, err := db.CreateTenant(ctx, sqlstore.NewTenant{Name: dbtest.Name("other"), AdminEmail: "a@o.example", AdminName: "A", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := db.AuthPolicy(ctx, other.ID); !got.RequiresMFA(mcrm.RoleSalesRep) {
			t.Fatalf("policy leaked across tenants: %+v", got)
		}
	})
}
