package authz

// RecordScope implements mcrm.Access for the store: the read scope, or
// the update scope when write is set.
func (r *Role) RecordScope(object string, write bool) string {
	if write {
		return string(r.ScopeFor(object, Update))
	}
	return string(r.ScopeFor(object, Read))
}
