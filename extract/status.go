package extract

import "time"

// StatusError is an API's answer other than a success, as each source's
// error type gives it: what `check` needs to say what went wrong and what
// to do, whatever the source.
type StatusError interface {
	error
	// HTTPStatus is the answer's status code (200 for a success whose
	// body is not the API's JSON).
	HTTPStatus() int
	// Reset is when the API said a rate limit ends (zero: it did not say).
	Reset() time.Time
}

// Advice is a source's own explanation of a failure and its fix, in the
// vendor's terms ("create a Read key in Settings → API Keys"): `check`
// shows it in place of its generic one.
type Advice struct {
	Text string
	Err  error
}

func (a *Advice) Error() string { return a.Text + ": " + a.Err.Error() }
func (a *Advice) Unwrap() error { return a.Err }
