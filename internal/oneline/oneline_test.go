package oneline

import "testing"

func TestCutFitsTextIntoOneLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"  Service\n\n  Unavailable\r\n", 40, "Service Unavailable"},
		{"exactly ten", 11, "exactly ten"},
		{"one word too many", 12, "one word to…"},
		{"café crème brûlée", 8, "café cr…"}, // runes, not bytes
	} {
		if got := Cut(c.in, c.n); got != c.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
