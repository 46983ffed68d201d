package sqlstore

import (
	"fmt"
	"strconv"
	"strings"

	"mcrm"
)

// args collects positional parameters; placeholders are $N on both
// databases.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// once is add for a string that may be asked for several times while one
// query is built: the first placeholder holding s is reused, so two
// fragments built for the same user (the hierarchy CTE of a note and of
// its parent) come out identical and no parameter is left unreferenced
// (PostgreSQL cannot type one).
func (a *args) once(s string) string {
	for i, v := range *a {
		if v == s {
			return "$" + strconv.Itoa(i+1)
		}
	}
	return a.add(s)
}

// visibleOwners returns a CTE naming the ids of the users whose records p
// may see: p itself, the members of every team p manages, of every team
// below those, and those teams' managers. The hierarchy is walked by the
// database (WITH RECURSIVE) so list queries push the scope into SQL instead
// of filtering rows in memory. tenant and user are the placeholders of p's
// tenant and user id.
func visibleOwnersCTE(tenant, user string) string {
	return `WITH RECURSIVE managed(id) AS (
    SELECT id FROM teams WHERE tenant_id = ` + tenant + ` AND manager_id = ` + user + ` AND deleted_at IS NULL
    UNION
    SELECT t.id FROM teams t JOIN managed m ON t.parent_team_id = m.id WHERE t.tenant_id = ` + tenant + ` AND t.deleted_at IS NULL
), visible(id) AS (
    SELECT CAST(` + user + ` AS TEXT)
    UNION
    SELECT u.id FROM users u WHERE u.tenant_id = ` + tenant + ` AND u.team_id IN (SELECT id FROM managed)
    UNION
    SELECT t.manager_id FROM teams t WHERE t.tenant_id = ` + tenant + ` AND t.id IN (SELECT id FROM managed) AND t.manager_id IS NOT NULL
) `
}

// scope is the row filter of one query: a CTE prefix (may be empty) and a
// predicate on alias t.
type scope struct {
	cte  string
	pred string
}

// readScope builds the visibility filter of p on entity e. Entities that
// are not owned (users, teams, products, pipelines) are tenant-wide
// reference data every member may read, unless the role says otherwise.
func readScope(p *mcrm.Principal, e *mcrm.Entity, a *args, tenantPH string) scope {
	return roleScope(p, e, a, tenantPH, false)
}

// writeScope is the filter for updates and deletes.
func writeScope(p *mcrm.Principal, e *mcrm.Entity, a *args, tenantPH string) scope {
	return roleScope(p, e, a, tenantPH, true)
}

// roleScope turns the principal's record scope for e into SQL (AZ-03):
// own, team (the manager hierarchy), territory (owners of the same
// region) or all, widened by records shared with the user or their team
// and, for accounts and what hangs off them, by account-team membership.
// Without a resolved role (CLI actors, legacy principals) the role-name
// rules of the foundation apply.
func roleScope(p *mcrm.Principal, e *mcrm.Entity, a *args, tenantPH string, write bool) scope {
	if p.System {
		return scope{}
	}
	if p.Access == nil {
		if write && (p.WritesAll() || !e.Owned) || !write && (p.SeesAll() || !e.Owned) {
			return scope{}
		}
		user := a.add(p.UserID)
		return scope{cte: visibleOwnersCTE(tenantPH, user), pred: notesWiden(e, "t.owner_id IN (SELECT id FROM visible)")}
	}
	sc := scope{}
	var base string
	switch p.Access.RecordScope(e.Name, write) {
	case "all":
		return scope{}
	case "team":
		if !e.Owned {
			return scope{}
		}
		user := a.once(p.UserID)
		sc.cte = visibleOwnersCTE(tenantPH, user)
		base = "t.owner_id IN (SELECT id FROM visible)"
	case "territory":
		if !e.Owned {
			return scope{}
		}
		user := a.add(p.UserID)
		base = `t.owner_id IN (SELECT r.id FROM users r WHERE r.tenant_id = ` + tenantPH + ` AND r.region = (SELECT me.region FROM users me WHERE me.tenant_id = ` + tenantPH + ` AND me.id = ` + user + `))`
	case "own":
		if !e.Owned {
			// Reference data has no owner: "own" reaches only oneself.
			if e.Name == "users" {
				return scope{pred: "t.id = " + a.add(p.UserID)}
			}
			return scope{pred: "1 = 0"}
		}
		base = "t.owner_id = " + a.add(p.UserID)
	default:
		base = "1 = 0"
	}
	if e.Owned {
		base = shareWiden(p, e, a, tenantPH, write, base)
	}
	sc.pred = base
	if e.Name == "notes" && !write {
		sc = notesThroughParents(p, a, tenantPH, sc)
	}
	return sc
}

// notesThroughParents widens the read scope of notes to the notes of
// every record the principal may read ("whoever can read that record can
// read its notes"): the parent must be reached by the read scope of its
// own object, shares and account teams included, and an object the role
// may not read at all lends its notes to nobody. Writes are not widened:
// a note is changed only within the notes' own write scope, so a rep
// cannot edit or delete a manager's note because it hangs on the rep's
// account.
func notesThroughParents(p *mcrm.Principal, a *args, tenantPH string, sc scope) scope {
	ors := []string{sc.pred}
	for _, parent := range mcrm.NoteParents {
		if p.Access.RecordScope(parent, false) == "none" {
			continue
		}
		ps := roleScope(p, mcrm.EntityByName(parent), a, tenantPH, false)
		if sc.cte == "" {
			sc.cte = ps.cte // identical to ours when both are set (args.once)
		}
		cond := ""
		if ps.pred != "" {
			cond = " AND " + realias(ps.pred, "t", "p")
		}
		ors = append(ors, fmt.Sprintf(`(t.parent_type = '%s' AND EXISTS (SELECT 1 FROM %s p WHERE p.tenant_id = t.tenant_id AND p.id = t.parent_id AND p.deleted_at IS NULL%s))`, parent, parent, cond))
	}
	sc.pred = "(" + strings.Join(ors, " OR ") + ")"
	return sc
}

// realias rewrites the table alias from to to in a predicate: "t.x"
// becomes "p.x", "st.x" or "s.t" stay.
func realias(pred, from, to string) string {
	var b strings.Builder
	for i := 0; i < len(pred); i++ {
		if strings.HasPrefix(pred[i:], from+".") && (i == 0 || !isIdentByte(pred[i-1])) {
			b.WriteString(to + ".")
			i += len(from)
			continue
		}
		b.WriteByte(pred[i])
	}
	return b.String()
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '.' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// shareWiden adds the records shared with the user or the user's team,
// and those reached through account teams. Both are uncorrelated IN
// subqueries on the tenant, so the database builds the (small) set of
// shared ids or member accounts once per query, through the indexes
// record_shares_user and record_shares_team (one UNION arm each, so each
// can use its own) and account_team_user, instead of probing them for
// every row it walks: SQLite ran the former correlated EXISTS once per
// row; PostgreSQL hashed it, but keyed on the outer row's tenant, so it
// read the whole record_shares table, every tenant's, on every list.
func shareWiden(p *mcrm.Principal, e *mcrm.Entity, a *args, tenantPH string, write bool, base string) string {
	user := a.add(p.UserID)
	access := ""
	if write {
		access = " AND s.access = 'edit'"
	}
	shares := `SELECT s.record_id FROM record_shares s WHERE s.tenant_id = ` + tenantPH + ` AND s.entity = '` + e.Name + `'` + access
	ors := []string{base, `t.id IN (` + shares + ` AND s.user_id = ` + user + `
        UNION ALL ` + shares + ` AND s.team_id = (SELECT me.team_id FROM users me WHERE me.tenant_id = ` + tenantPH + ` AND me.id = ` + user + `))`}
	mAccess := ""
	if write {
		mAccess = " AND m.access = 'edit'"
	}
	team := `(SELECT m.account_id FROM account_team m WHERE m.tenant_id = ` + tenantPH + ` AND m.user_id = ` + user + mAccess + `)`
	switch e.Name {
	case "accounts":
		ors = append(ors, `t.id IN `+team)
	case "contacts", "opportunities", "cases":
		ors = append(ors, `t.account_id IN `+team)
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// notesWiden makes a note visible with its parent record for principals
// without a resolved role (the foundation's rules: the parent's owner
// within the same hierarchy).
func notesWiden(e *mcrm.Entity, pred string) string {
	if e.Name != "notes" {
		return pred
	}
	ors := []string{pred}
	for _, parent := range mcrm.NoteParents {
		inner := strings.ReplaceAll(pred, "t.", "p.")
		ors = append(ors, fmt.Sprintf(`(t.parent_type = '%s' AND EXISTS (SELECT 1 FROM %s p WHERE p.tenant_id = t.tenant_id AND p.id = t.parent_id AND p.deleted_at IS NULL AND %s))`, parent, parent, inner))
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// CanWrite reports whether p may write records of e at all (before any
// record is looked at).
func CanWrite(p *mcrm.Principal, e *mcrm.Entity) error {
	if p.Access != nil {
		// The API's decision point (authz) has decided on the action;
		// the write scope still limits which records it reaches.
		if p.Access.RecordScope(e.Name, true) == "none" {
			return mcrm.Errorf(mcrm.EForbidden, "your role may not change %s", e.Name)
		}
		return nil
	}
	if p.ReadOnly() {
		return mcrm.Errorf(mcrm.EForbidden, "your role may not change records")
	}
	if e.AdminWrite && !p.WritesAll() {
		return mcrm.Errorf(mcrm.EForbidden, "only administrators may change %s", e.Name)
	}
	return nil
}
