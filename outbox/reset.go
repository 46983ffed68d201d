package outbox

import (
	"fmt"
	"strings"

	"mcrm/sqlstore"
)

// PasswordResetMail returns the composer sqlstore.CreatePasswordReset
// needs: the mail to `to` with a link to resetPage. The token goes in the
// URL fragment, which browsers never send to a server, so it stays out of
// access logs, proxies and Referer headers; the page posts it to
// /auth/password/reset in the request body.
func PasswordResetMail(resetPage, to, tenantName string) func(token string) sqlstore.OutboxMail {
	return func(token string) sqlstore.OutboxMail {
		link := strings.TrimRight(resetPage, "#") + "#token=" + token
		return sqlstore.OutboxMail{
			To:      to,
			Subject: "Reset your mcrm password",
			Text: fmt.Sprintf(`Someone asked to reset the password of your mcrm account at %s.

To choose a new password, open this link within %d minutes:

%s

The link works once. Your second factor will still be asked for when you
sign in, and every device signed in to your account will be signed out.

If you did not ask for this, ignore this mail: your password stays as it is.
`, tenantName, int(sqlstore.ResetTokenLifetime.Minutes()), link),
		}
	}
}
