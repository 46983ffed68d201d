package outbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileSink writes each message as an .eml file (the same bytes SMTP would
// send) into a directory, for local use and tests without a mail server.
// Files are owner-only (0600, the directory 0700): a reset mail holds a
// live token.
type FileSink struct {
	dir  string
	from string
	// Now is the clock for the Date header.
	Now func() time.Time
}

// NewFileSink creates dir if needed.
func NewFileSink(dir, from string) (*FileSink, error) {
	if dir == "" {
		return nil, errors.New("file sink: directory is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return &FileSink{dir: dir, from: from, Now: time.Now}, nil
}

// Dir is where the files go.
func (f *FileSink) Dir() string { return f.dir }

// Send writes m to <outbox id>.eml. The file is written under a temporary
// name and renamed, so a reader never sees half a message; a redelivery
// of the same outbox id replaces the file instead of adding one.
func (f *FileSink) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := f.Now().UTC()
	msg, err := compose(f.from, m, now)
	if err != nil {
		return err
	}
	id := m.ID
	if id == "" {
		id = strings.ToLower(rand.Text())
	}
	name := filepath.Join(f.dir, id+".eml")
	tmp, err := os.CreateTemp(f.dir, ".mail-*")
	if err != nil {
		return &classError{"file", err}
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return &classError{"file", err}
	}
	if _, err := msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return &classError{"file", err}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return &classError{"file", err}
	}
	if err := tmp.Close(); err != nil {
		return &classError{"file", err}
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return &classError{"file", err}
	}
	return nil
}
