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
// reference data every member may read.
func readScope(p *mcrm.Principal, e *mcrm.Entity, a *args, tenantPH string) scope {
	if p.SeesAll() || !e.Owned {
		return scope{}
	}
	user := a.add(p.UserID)
	sc := scope{cte: visibleOwnersCTE(tenantPH, user), pred: "t.owner_id IN (SELECT id FROM visible)"}
	if e.Name == "notes" {
		// A note is visible with its parent record.
		var ors []string
		ors = append(ors, sc.pred)
		for _, parent := range mcrm.NoteParents {
			ors = append(ors, fmt.Sprintf(`(t.parent_type = '%s' AND EXISTS (SELECT 1 FROM %s p WHERE p.tenant_id = t.tenant_id AND p.id = t.parent_id AND p.deleted_at IS NULL AND p.owner_id IN (SELECT id FROM visible)))`, parent, parent))
		}
		sc.pred = "(" + strings.Join(ors, " OR ") + ")"
	}
	return sc
}

// writeScope is the filter for updates and deletes: the same hierarchy as
// reads for owned records; reference data is written by admins only, which
// the caller checks before building the statement.
func writeScope(p *mcrm.Principal, e *mcrm.Entity, a *args, tenantPH string) scope {
	if p.WritesAll() || !e.Owned {
		return scope{}
	}
	user := a.add(p.UserID)
	return scope{cte: visibleOwnersCTE(tenantPH, user), pred: "t.owner_id IN (SELECT id FROM visible)"}
}

// CanWrite reports whether p may write records of e at all (before any
// record is looked at).
func CanWrite(p *mcrm.Principal, e *mcrm.Entity) error {
	if p.ReadOnly() {
		return mcrm.Errorf(mcrm.EForbidden, "your role may not change records")
	}
	if e.AdminWrite && !p.WritesAll() {
		return mcrm.Errorf(mcrm.EForbidden, "only administrators may change %s", e.Name)
	}
	return nil
}
