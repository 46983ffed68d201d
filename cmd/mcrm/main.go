// Command mcrm is the mcrm server and its administration commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"mcrm"
)

const usage = `mcrm: secure mobile CRM server

Usage:
  mcrm serve        [--data-dir DIR] [--listen ADDR] [--database-url URL] [--tls-cert F --tls-key F] [--insecure-http]
  mcrm migrate      [--data-dir DIR] [--database-url URL]
  mcrm tenant create [--data-dir DIR] [--database-url URL] --admin-email EMAIL NAME
  mcrm tenant policy get|set [--data-dir DIR] [--database-url URL] --tenant NAME   (set reads JSON on stdin)
  mcrm user set-password [--data-dir DIR] [--database-url URL] --tenant NAME --email EMAIL   (password on stdin)
  mcrm import       [--data-dir DIR] [--database-url URL] --tenant NAME --entity ENTITY [--mapping FILE] [--dry-run] FILE
  mcrm export       [--data-dir DIR] [--database-url URL] --tenant NAME --entity ENTITY --format csv|vcard [--output FILE]
  mcrm purge        [--data-dir DIR] [--database-url URL]   (remove records deleted more than 30 days ago)

Run "mcrm COMMAND --help" for a command's options. Secrets come from the
environment, never from arguments: MCRM_DATABASE_URL(_FILE),
MCRM_ADMIN_PASSWORD(_FILE), MCRM_MASTER_KEY(_FILE), MCRM_SMTP_PASSWORD(_FILE).
`

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var ee exitError
		if errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "mcrm: "+ee.msg)
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "mcrm: "+oneLine(err))
		os.Exit(1)
	}
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// oneLine renders an error as a single line for the terminal.
func oneLine(err error) string {
	var me *mcrm.Error
	if errors.As(err, &me) {
		s := me.Message
		for _, f := range me.Fields {
			s += fmt.Sprintf("; %s: %s (%s)", f.Field, f.Message, f.Code)
		}
		return strings.ReplaceAll(s, "\n", " ")
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2, "no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr)
	case "tenant":
		switch {
		case len(rest) > 0 && rest[0] == "create":
			return cmdTenantCreate(ctx, rest[1:], stdout, stderr)
		case len(rest) > 1 && rest[0] == "policy" && rest[1] == "get":
			return cmdPolicyGet(ctx, rest[2:], stdout, stderr)
		case len(rest) > 1 && rest[0] == "policy" && rest[1] == "set":
			return cmdPolicySet(ctx, rest[2:], stdin, stdout, stderr)
		}
		return exitError{2, `unknown tenant command (expected "tenant create", "tenant policy get" or "tenant policy set")`}
	case "user":
		if len(rest) == 0 || rest[0] != "set-password" {
			return exitError{2, `unknown user command (expected "user set-password")`}
		}
		return cmdSetPassword(ctx, rest[1:], stdin, stdout, stderr)
	case "import":
		return cmdImport(ctx, rest, stdin, stdout, stderr)
	case "export":
		return cmdExport(ctx, rest, stdout, stderr)
	case "purge":
		return cmdPurge(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return exitError{2, "unknown command " + cmd}
}
