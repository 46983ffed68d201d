package mcrm

import "context"

// Sealer encrypts values at rest: personal and sensitive fields, TOTP
// seeds, device secrets. The data-protection layer implements it with
// per-tenant keys under a root key; nothing else holds key material.
//
// aad binds a ciphertext to where it is stored (tenant, table, column,
// row), so a value copied to another place fails to open. The ciphertext
// carries the id of the key that sealed it, so rotation needs no side
// table.
type Sealer interface {
	Seal(ctx context.Context, tenantID string, aad, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, tenantID string, aad, ciphertext []byte) ([]byte, error)
}

// AAD builds the associated data for a value stored at tenant/table/column/row.
// Each part is length-prefixed so no two places share an encoding.
func AAD(tenantID, table, column, rowID string) []byte {
	out := make([]byte, 0, len(tenantID)+len(table)+len(column)+len(rowID)+8)
	for _, s := range []string{tenantID, table, column, rowID} {
		out = append(out, byte(len(s)>>8), byte(len(s)))
		out = append(out, s...)
	}
	return out
}
