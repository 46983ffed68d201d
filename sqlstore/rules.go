package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"mcrm"
	"mcrm/normalize"
	"mcrm/record"
)

// slaHours is the default time to resolve a case by priority.
var slaHours = map[string]int{"urgent": 4, "high": 8, "medium": 24, "low": 72}

// beforeWrite applies each object's defaults and cross-field rules to the
// full new state v (old is nil on create). It runs inside the write
// transaction so checks against other records see a consistent state.
func (tx *Tx) beforeWrite(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, old, v record.Values) error {
	switch e.Name {
	case "users":
		email, err := normalize.Email(v["email"].(string))
		if err != nil {
			return mcrm.FieldErr("email", "invalid_email", "not a valid email address")
		}
		// Login matches the address case-insensitively: store it lower-case.
		v["email"] = email
		if v["active"] == nil {
			v["active"] = true
		}
		if tz, _ := v["time_zone"].(string); tz != "" {
			if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
				return mcrm.FieldErr("time_zone", "invalid_time_zone", "not an IANA time zone name")
			}
		}
		if old != nil && old["id"] == p.UserID {
			if old["role"] != v["role"] {
				return mcrm.Errorf(mcrm.EForbidden, "you cannot change your own role")
			}
			if v["active"] == false {
				return mcrm.Errorf(mcrm.EForbidden, "you cannot deactivate your own user")
			}
		}
		if team, _ := v["team_id"].(string); team != "" && (old == nil || old["team_id"] != team) {
			// users.team_id has no foreign key (see the migration); check here.
			if _, err := get(ctx, tx, p, mcrm.EntityByName("teams"), team, false); err != nil {
				return mcrm.FieldErr("team_id", "unknown_reference", "no such team")
			}
		}
		if role, _ := v["role"].(string); old == nil || old["role"] != v["role"] {
			if err := tx.checkRole(ctx, p.TenantID, role); err != nil {
				return err
			}
		}
		if old != nil {
			// Cached sessions carry the user's role and time zone.
			tx.EvictUser(p.TenantID, old["id"].(string))
		}
		if old != nil && (old["role"] != v["role"] || old["active"] != v["active"]) {
			// A change of rights ends the user's sessions at once.
			if _, err := tx.RevokeUserSessions(ctx, p.TenantID, old["id"].(string), "", RevokedRights); err != nil {
				return err
			}
		}
	case "teams":
		if err := tx.noCycle(ctx, p, e, "parent_team_id", v); err != nil {
			return err
		}
	case "accounts":
		if err := tx.noCycle(ctx, p, e, "parent_id", v); err != nil {
			return err
		}
		if v["annual_revenue"] != nil && v["currency"] == nil {
			v["currency"] = tx.tenantCurrency(ctx, p)
		}
	case "products":
		if v["active"] == nil {
			v["active"] = true
		}
		if v["price"] != nil && v["currency"] == nil {
			v["currency"] = tx.tenantCurrency(ctx, p)
		}
	case "pipelines":
		return tx.pipelineRules(ctx, p, old, v)
	case "opportunities":
		return tx.opportunityRules(ctx, p, old, v)
	case "activities":
		if v["status"] == nil {
			v["status"] = "open"
		}
		if d, ok := v["due_at"].(time.Time); ok {
			if end, ok := v["end_at"].(time.Time); ok && end.Before(d) {
				return mcrm.FieldErr("end_at", "before_start", "end_at is before due_at")
			}
		}
	case "cases":
		if v["status"] == nil {
			v["status"] = "new"
		}
		if v["priority"] == nil {
			v["priority"] = "medium"
		}
		if v["sla_due_at"] == nil && old == nil {
			v["sla_due_at"] = v["created_at"].(time.Time).Add(time.Duration(slaHours[v["priority"].(string)]) * time.Hour)
		}
	case "leads":
		if v["status"] == nil {
			v["status"] = "new"
		}
		if v["status"] == "converted" && (old == nil || old["status"] != "converted") {
			return mcrm.FieldErr("status", "use_convert", "convert a lead with POST /api/v1/leads/{id}/convert")
		}
		if old != nil && old["status"] == "converted" && v["status"] != "converted" {
			return mcrm.FieldErr("status", "converted", "a converted lead cannot be reopened")
		}
	case "notes":
		if old != nil && (old["parent_type"] != v["parent_type"] || old["parent_id"] != v["parent_id"]) {
			return mcrm.FieldErr("parent_id", "read_only", "a note cannot be moved to another record")
		}
		pe := mcrm.EntityByName(v["parent_type"].(string))
		if _, err := get(ctx, tx, p, pe, v["parent_id"].(string), false); err != nil {
			return mcrm.FieldErr("parent_id", "unknown_reference", "no such "+pe.Singular)
		}
	}
	return nil
}

// noCycle rejects a parent link that would make a record its own ancestor.
func (tx *Tx) noCycle(ctx context.Context, p *mcrm.Principal, e *mcrm.Entity, field string, v record.Values) error {
	parent, _ := v[field].(string)
	id := v["id"].(string)
	if parent != "" && tx.db.Dialect == Postgres {
		// Two transactions each linking one record under the other would
		// both see no cycle. An advisory lock per tenant and hierarchy makes
		// such changes take turns until commit; SQLite has one writer and
		// needs none.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, p.TenantID+"/"+e.Name+"/"+field); err != nil {
			return mapErr(err)
		}
	}
	for depth := 0; parent != ""; depth++ {
		if parent == id {
			return mcrm.FieldErr(field, "cycle", "a record cannot be its own ancestor")
		}
		if depth > 100 {
			return mcrm.FieldErr(field, "too_deep", "hierarchy deeper than 100 levels")
		}
		var next *string
		err := tx.QueryRowContext(ctx, "SELECT "+field+" FROM "+e.Name+" WHERE tenant_id = $1 AND id = $2", p.TenantID, parent).Scan(&next)
		if err != nil {
			return nil // a missing parent is reported by the reference check
		}
		if next == nil {
			return nil
		}
		parent = *next
	}
	return nil
}

func (tx *Tx) tenantCurrency(ctx context.Context, p *mcrm.Principal) string {
	if tx.currency == "" {
		tx.currency = "USD"
		_ = tx.QueryRowContext(ctx, `SELECT default_currency FROM tenants WHERE id = $1`, p.TenantID).Scan(&tx.currency)
	}
	return tx.currency
}

func (tx *Tx) pipelineRules(ctx context.Context, p *mcrm.Principal, old, v record.Values) error {
	stages, _ := v["stages"].([]map[string]any)
	if len(stages) == 0 {
		return mcrm.FieldErr("stages", "required", "a pipeline needs at least one stage")
	}
	names := map[string]bool{}
	for i, st := range stages {
		name := st["name"].(string)
		if names[strings.ToLower(name)] {
			return mcrm.FieldErr("stages."+strconv.Itoa(i)+".name", "duplicate", "stage names must be unique")
		}
		names[strings.ToLower(name)] = true
		if st["outcome"] == nil {
			st["outcome"] = "open"
		}
		if pr, ok := st["probability"].(int64); ok && (pr < 0 || pr > 100) {
			return mcrm.FieldErr("stages."+strconv.Itoa(i)+".probability", "out_of_range", "between 0 and 100")
		}
		if st["probability"] == nil {
			switch st["outcome"] {
			case "won":
				st["probability"] = int64(100)
			case "lost":
				st["probability"] = int64(0)
			default:
				st["probability"] = int64(10)
			}
		}
	}
	if v["is_default"] == nil {
		v["is_default"] = false
	}
	if old != nil {
		// A stage that deals still use cannot be removed.
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT stage FROM opportunities WHERE tenant_id = $1 AND pipeline_id = $2 AND deleted_at IS NULL`, p.TenantID, v["id"])
		if err != nil {
			return mapErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s *string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			if s != nil && !names[strings.ToLower(*s)] {
				return &mcrm.Error{Code: mcrm.EConflict, Message: "stage in use", Fields: []mcrm.FieldError{{Field: "stages", Code: "stage_in_use", Message: "opportunities are in stage " + *s}}}
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if v["is_default"] == true {
		if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET is_default = $1 WHERE tenant_id = $2 AND id <> $3 AND is_default = $4`, false, p.TenantID, v["id"], true); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// pipelineStages loads a pipeline's stages (cached for the transaction).
func (tx *Tx) pipelineStages(ctx context.Context, p *mcrm.Principal, id string) ([]map[string]any, error) {
	if st, ok := tx.stages[id]; ok {
		return st, nil
	}
	pv, err := get(ctx, tx, p, mcrm.EntityByName("pipelines"), id, false)
	if err != nil {
		return nil, mcrm.FieldErr("pipeline_id", "unknown_reference", "no such pipeline")
	}
	st, _ := pv["stages"].([]map[string]any)
	if tx.stages == nil {
		tx.stages = map[string][]map[string]any{}
	}
	tx.stages[id] = st
	return st, nil
}

func (tx *Tx) opportunityRules(ctx context.Context, p *mcrm.Principal, old, v record.Values) error {
	if v["pipeline_id"] == nil {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM pipelines WHERE tenant_id = $1 AND is_default = $2 AND deleted_at IS NULL`, p.TenantID, true).Scan(&id)
		if err != nil {
			return mcrm.FieldErr("pipeline_id", "required", "the tenant has no default pipeline; give pipeline_id")
		}
		v["pipeline_id"] = id
	}
	stages, err := tx.pipelineStages(ctx, p, v["pipeline_id"].(string))
	if err != nil {
		return err
	}
	if v["stage"] == nil {
		v["stage"] = stages[0]["name"]
	}
	var stage map[string]any
	for _, st := range stages {
		if strings.EqualFold(st["name"].(string), v["stage"].(string)) {
			stage = st
			v["stage"] = st["name"]
		}
	}
	if stage == nil {
		names := make([]string, len(stages))
		for i, st := range stages {
			names[i] = st["name"].(string)
		}
		return mcrm.FieldErr("stage", "unknown_stage", "expected one of: "+strings.Join(names, ", "))
	}
	stageChanged := old == nil || old["stage"] != v["stage"]
	if v["probability"] == nil || (stageChanged && old != nil && old["probability"] == v["probability"]) {
		v["probability"] = stage["probability"]
	}
	if pr, _ := v["probability"].(int64); pr < 0 || pr > 100 {
		return mcrm.FieldErr("probability", "out_of_range", "between 0 and 100")
	}
	if v["currency"] == nil {
		v["currency"] = tx.tenantCurrency(ctx, p)
	}
	if items, _ := v["line_items"].([]map[string]any); len(items) > 0 {
		for i, it := range items {
			if q, ok := it["quantity"].(int64); ok && q <= 0 {
				return mcrm.FieldErr("line_items."+strconv.Itoa(i)+".quantity", "out_of_range", "must be positive")
			}
			if it["quantity"] == nil {
				it["quantity"] = int64(1)
			}
		}
	}
	return nil
}
