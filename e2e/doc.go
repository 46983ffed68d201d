// Package e2e holds end-to-end tests that build the real mcrm binary and
// drive it as an operator would: CLI commands, the real data sets under
// ../../shared/data, and the HTTPS API of a running "mcrm serve".
//
// The package has no non-test code; this file only gives it a name and a
// place for this comment.
package e2e
