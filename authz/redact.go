package authz

import (
	"encoding/json"

	"mcrm"
)

// Redact applies the role's field access to one record of e in place:
// hidden fields are removed, masked ones masked. Exports and every other
// path that hands out whole records go through it (AZ-04).
func (r *Role) Redact(e *mcrm.Entity, v map[string]any) {
	for i := range e.Fields {
		f := &e.Fields[i]
		switch r.FieldAccess(e.Name, f.Name) {
		case Hidden:
			delete(v, f.Name)
		case Masked:
			if x, ok := v[f.Name]; ok {
				v[f.Name] = MaskValue(e, f, x)
			}
		}
	}
}

// MaskValue masks a stored value of field f of e: text, and the text of
// list items (a contact's emails and phones; their type stays readable),
// each the way MaskKindFor says. Numbers, money and dates have no partial
// form that says less than the value, so a masked one is null.
func MaskValue(e *mcrm.Entity, f *mcrm.Field, v any) any {
	switch t := v.(type) {
	case string:
		return Mask(t, MaskKindFor(e.Name, f.Name))
	case []map[string]any:
		out := make([]map[string]any, len(t))
		for i, item := range t {
			m := make(map[string]any, len(item))
			for k, x := range item {
				if str, ok := x.(string); ok && f.ItemField(k) != nil && k != "type" {
					m[k] = Mask(str, MaskKindFor(e.Name, f.Name+"[]."+k))
					continue
				}
				m[k] = x
			}
			out[i] = m
		}
		return out
	case json.RawMessage:
		var items []map[string]any
		if json.Unmarshal(t, &items) != nil {
			return nil
		}
		return MaskValue(e, f, items)
	}
	return nil
}
