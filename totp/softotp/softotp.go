// Package softotp is a software authenticator app for tests: it holds a
// TOTP secret as an enrolment hands it out (base32) and produces codes the
// way a careful user would, never reusing a time step the server has
// already accepted (the server refuses a second use of a step, AUTH-02).
package softotp

import (
	"encoding/base32"
	"strings"
	"sync"
	"time"

	"mcrm/totp"
)

// App is one enrolled authenticator. It is safe for concurrent use.
type App struct {
	mu     sync.Mutex
	secret []byte
	last   int64 // highest step handed out
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits when every step in the window was used; nil means
	// time.Sleep.
	Sleep func(time.Duration)
}

// New decodes a base32 secret (padding optional, case-insensitive).
func New(secret string) (*App, error) {
	s := strings.TrimRight(strings.ToUpper(strings.ReplaceAll(secret, " ", "")), "=")
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return nil, err
	}
	return &App{secret: b, last: -1}, nil
}

// Code returns a code for a step the server will accept now (within the
// one-step drift window) and that this App has not handed out before,
// waiting for the next period when the window is used up.
func (a *App) Code() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	now, sleep := time.Now, time.Sleep
	if a.Now != nil {
		now = a.Now
	}
	if a.Sleep != nil {
		sleep = a.Sleep
	}
	p := totp.Default
	for {
		cur := p.Step(now())
		step := max(a.last+1, cur-totp.Drift)
		if step <= cur+totp.Drift {
			a.last = step
			c, err := p.Code(a.secret, step)
			if err != nil {
				panic(err)
			}
			return c
		}
		// Wait for the window to move on: until step-Drift is current.
		next := time.Unix((step-totp.Drift)*int64(p.Period/time.Second), 0)
		sleep(time.Until(next) + 10*time.Millisecond)
	}
}

// CodeAt returns the code of a given time step (tests of replay and
// drift).
func (a *App) CodeAt(step int64) string {
	c, err := totp.Default.Code(a.secret, step)
	if err != nil {
		panic(err)
	}
	return c
}
