package sqlstore

import (
	"context"
	"time"

	"mcrm"
	"mcrm/record"
)

// ConvertOptions steer a lead conversion.
type ConvertOptions struct {
	AccountID         string        // link to this existing account instead of creating one
	CreateOpportunity bool          // also open an opportunity
	Opportunity       record.Values // optional opportunity fields (name, amount, stage, ...)
}

// Converted names the records a conversion produced.
type Converted struct {
	Lead        record.Values `json:"lead"`
	ContactID   string        `json:"contact_id"`
	AccountID   string        `json:"account_id"`
	Opportunity string        `json:"opportunity_id,omitempty"`
}

// ConvertLead turns a lead into a contact, an account (unless an existing
// one is given) and optionally an opportunity, all owned by the lead's
// owner, and marks the lead converted. It runs in the caller's transaction:
// either every record is written or none is.
func (tx *Tx) ConvertLead(ctx context.Context, p *mcrm.Principal, leadID string, ifVersion int64, o ConvertOptions) (Converted, error) {
	var out Converted
	leads := mcrm.EntityByName("leads")
	lead, err := tx.getForWrite(ctx, p, leads, leadID)
	if err != nil {
		return out, err
	}
	if ifVersion >= 0 && lead["version"].(int64) != ifVersion {
		return out, mcrm.Errorf(mcrm.EPreconditionFailed, "the lead was changed by someone else")
	}
	if lead["status"] == "converted" {
		return out, &mcrm.Error{Code: mcrm.EConflict, Message: "the lead is already converted"}
	}
	owner := lead["owner_id"]
	if o.AccountID != "" {
		if _, err := get(ctx, tx, p, mcrm.EntityByName("accounts"), o.AccountID, false); err != nil {
			return out, mcrm.FieldErr("account_id", "unknown_reference", "no such account")
		}
		out.AccountID = o.AccountID
	} else {
		acc, err := tx.Create(ctx, p, mcrm.EntityByName("accounts"), record.Values{"name": lead["company"], "owner_id": owner})
		if err != nil {
			return out, err
		}
		out.AccountID = acc["id"].(string)
	}
	contact := record.Values{"owner_id": owner, "account_id": out.AccountID}
	for _, f := range []string{"first_name", "last_name", "title", "emails", "phones"} {
		if lead[f] != nil {
			contact[f] = lead[f]
		}
	}
	c, err := tx.Create(ctx, p, mcrm.EntityByName("contacts"), contact)
	if err != nil {
		return out, err
	}
	out.ContactID = c["id"].(string)
	patch := record.Values{"status": "converted", "converted_at": time.Now().UTC(),
		"converted_contact_id": out.ContactID, "converted_account_id": out.AccountID}
	if o.CreateOpportunity {
		opp := record.Values{"owner_id": owner, "account_id": out.AccountID, "name": lead["company"]}
		for k, v := range o.Opportunity {
			opp[k] = v
		}
		created, err := tx.Create(ctx, p, mcrm.EntityByName("opportunities"), opp)
		if err != nil {
			return out, err
		}
		out.Opportunity = created["id"].(string)
		patch["converted_opportunity_id"] = out.Opportunity
	}
	// Conversion is the one path allowed to set the converted fields, so it
	// writes them directly rather than through the generic update rules.
	v, err := tx.convertLeadRow(ctx, p, lead, patch)
	if err != nil {
		return out, err
	}
	out.Lead = v
	return out, nil
}

func (tx *Tx) convertLeadRow(ctx context.Context, p *mcrm.Principal, lead, patch record.Values) (record.Values, error) {
	opp := any(nil)
	if s, ok := patch["converted_opportunity_id"]; ok {
		opp = s
	}
	ts := time.Now().UTC()
	res, err := tx.ExecContext(ctx, `UPDATE leads SET status = 'converted', converted_at = $1, converted_contact_id = $2, converted_account_id = $3, converted_opportunity_id = $4,
        version = version + 1, updated_at = $1, updated_by = $5 WHERE tenant_id = $6 AND id = $7 AND version = $8`,
		ts.Format(timeLayout), patch["converted_contact_id"], patch["converted_account_id"], opp, p.Actor(), p.TenantID, lead["id"], lead["version"])
	if err != nil {
		return nil, mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, mcrm.Errorf(mcrm.EPreconditionFailed, "the lead was changed by someone else")
	}
	return get(ctx, tx, p, mcrm.EntityByName("leads"), lead["id"].(string), false)
}
