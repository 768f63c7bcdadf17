package report

import (
	"slices"
	"testing"
)

func TestLongLabelsWrapAtWordsInTwoLines(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want []string
	}{
		{"iPhone 13", 15, []string{"iPhone 13"}},
		{"iPhone 13 Pro — Cracked screen", 15, []string{"iPhone 13 Pro —", "Cracked screen"}},
		{"MacBook Pro 16\" — Battery drains fast", 15, []string{"MacBook Pro 16\"", "— Battery…"}},
		{"Supercalifragilistic", 8, []string{"Supercal", "ifragil…"}},
	} {
		if got := wrap(tt.in, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestTileFiguresReadLikeMoney(t *testing.T) {
	for _, tt := range []struct{ v, unit, currency, want string }{
		{"31592.45", "money", "USD", "31,592.45 USD"},
		{"1098.07", "money", "", "1,098.07"},
		{"-308.31", "money", "EUR", "−308.31 EUR"},
		{"80.00", "tickets", "", "80"},
		{"1234.00", "tickets", "", "1,234"},
		{"9.08", "days", "", "9.1 days"},
		{"", "days", "", "–"},
	} {
		if got := figure(tt.v, tt.unit, tt.currency); got != tt.want {
			t.Errorf("figure(%q, %s) = %q, want %q", tt.v, tt.unit, got, tt.want)
		}
	}
}

func TestCountsAreSingularForOne(t *testing.T) {
	if got := plural(1, "row", "rows"); got != "1 row" {
		t.Errorf("plural(1) = %q", got)
	}
	if got := plural(11, "row", "rows"); got != "11 rows" {
		t.Errorf("plural(11) = %q", got)
	}
}

func TestTickLabelsAreShort(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 2.5: "2.5", 950: "950", 1500: "1.5k", 12000: "12k", 2500000: "2.5M"} {
		if got := short(v); got != want {
			t.Errorf("short(%v) = %q, want %q", v, got, want)
		}
	}
}
