package redact

import "testing"

// What is not shaped like a key is quoted back, so the error shows the
// typo; what is, is not.
func TestQuoteHidesOnlyKeyShapedValues(t *testing.T) {
	for _, v := range []string{"repairopps", "America/Chicgo", "30 seconds", "https://api.example.test/v1", "customers", "EURO", "north-2024-branch-01x", "America/Argentina/Buenos_Aires", "2026-13-01", "hostt", ""} {
		if got := Quote(v); got != `"`+v+`"` {
			t.Errorf("Quote(%q) = %s", v, got)
		}
	}
	for _, v := range []string{"sk_live_Qw3Er5Ty7Ui9Op1As3Df", "a1b2c3d4e5f60718293a4b5c", "ro_read_metro_9f8e7d6c5b4a3921", "dGhpcyBpcyBhIGtleTEyMzQ1Njc4OQ==", "https://user:pw@host/x", "gs://u@bucket/p"} {
		if got := Quote(v); got != Hidden {
			t.Errorf("Quote(%q) = %s; want it hidden", v, got)
		}
	}
}
