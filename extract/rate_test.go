package extract

import (
	"strings"
	"testing"
)

func TestCheckRateRefusesWhatTheVendorWouldPunish(t *testing.T) {
	cases := []struct {
		name     string
		v        float64
		override bool
		want     string // "" when accepted
	}{
		{"the documented limit", 30, false, ""},
		{"below it", 12, false, ""},
		{"above it", 1000, false, "above MGR's documented limit of 30 a minute"},
		{"above it, overridden", 1000, true, ""},
		{"zero", 0, false, "not a whole number of requests of at least 1"},
		{"zero, overridden", 0, true, "not a whole number"},
		{"a fraction", 1.5, false, "1.5 is not a whole number"},
		{"negative", -3, false, "not a whole number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckRate("requests_per_minute", c.v, 30, "a minute", "MGR's", "it blocks the key", c.override)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error saying %q", err, c.want)
			case c.want != "" && strings.Contains(c.want, "above") && !strings.Contains(err.Error(), OverrideKey+": true"):
				t.Errorf("%v does not say how to override", err)
			}
		})
	}
}
