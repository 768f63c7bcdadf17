// Package redact keeps keys out of error messages. A value from a config
// file or a command line is quoted back so that the error shows the typo,
// unless it is shaped like a key pasted into the wrong place: errors go to
// logs and cron mail, and a key must not.
package redact

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// Hidden stands in an error for a value shaped like a key.
const Hidden = "(a value shaped like a key, not shown)"

// Quote quotes s for an error message, or says Hidden if s looks like a
// key.
func Quote(s string) string {
	if LooksLikeKey(s) {
		return Hidden
	}
	return strconv.Quote(s)
}

// LooksLikeKey says whether s could be a credential: a run of 12 or more
// letters and digits that mixes both (sk_live_Qw3E…, a1b2c3d4…, base64),
// or a URL that carries a user name or password. Names, time zones,
// durations, dates and plain URLs are not.
func LooksLikeKey(s string) bool {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && strings.Contains(s, "://") {
		return u.User != nil
	}
	run, letters, digits := 0, 0, 0
	for _, r := range s + " " {
		switch {
		case unicode.IsLetter(r):
			run, letters = run+1, letters+1
		case unicode.IsDigit(r):
			run, digits = run+1, digits+1
		default:
			if run >= 12 && letters >= 2 && digits >= 2 {
				return true
			}
			run, letters, digits = 0, 0, 0
		}
	}
	return false
}
