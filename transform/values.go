package transform

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/repairshop/export/schema"
)

// errNull signals a value that is present but means "no value" (an empty
// string or a zero date where a date is expected); the column gets NULL.
var errNull = fmt.Errorf("null")

// decimalLiteral is a plain decimal number, optionally with an exponent.
// Thousands separators and currency signs are not guessed at.
var decimalLiteral = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// parseMoney returns the value in cents (10^-MoneyScale units) read from a
// JSON number or numeric string, exactly: no float64 on the way.
func parseMoney(v any) (int64, error) {
	return parseDecimal(v, schema.MoneyPrecision, schema.MoneyScale)
}

// parseDecimal returns the value in units of 10^-scale read from a JSON
// number or numeric string, exactly, or says why it does not fit
// DECIMAL(precision, scale). A value within a millionth of a unit of the
// scale is taken as that value: it is binary floating-point noise from an
// API that summed amounts as doubles (259.99000000000001), not a fraction
// of a cent.
func parseDecimal(v any, precision, scale int) (int64, error) {
	return scaled(v, precision, scale, false)
}

// roundDecimal is parseDecimal that rounds (half away from zero) what does
// not fit the scale: for statistics the API computes (schema.Rounded).
func roundDecimal(v any, precision, scale int) (int64, error) {
	return scaled(v, precision, scale, true)
}

// noise is how far (in units of the scale) a value may be from the scale's
// grid and still be read as on it.
var noise = big.NewRat(1, 1_000_000)

func scaled(v any, precision, scale int, round bool) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return 0, errNull
		}
	default:
		return 0, fmt.Errorf("want a number, got %s", describe(v))
	}
	if n, ok := plainDecimal(s, precision, scale); ok {
		return n, nil
	}
	return exactDecimal(s, precision, scale, round)
}

// exactDecimal reads any decimal literal through big numbers.
func exactDecimal(s string, precision, scale int, round bool) (int64, error) {
	if !decimalLiteral.MatchString(s) {
		return 0, fmt.Errorf("%q is not a plain decimal number", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	unit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	r.Mul(r, new(big.Rat).SetInt(unit))
	n := r.Num()
	if !r.IsInt() {
		// Nearest integer, half away from zero.
		half := new(big.Rat).Add(new(big.Rat).Abs(r), big.NewRat(1, 2))
		q := new(big.Int).Quo(half.Num(), half.Denom())
		if r.Sign() < 0 {
			q.Neg(q)
		}
		off := new(big.Rat).Sub(r, new(big.Rat).SetInt(q))
		if !round && off.Abs(off).Cmp(noise) > 0 {
			return 0, fmt.Errorf("%q has more than %d decimal places", s, scale)
		}
		n = q
	}
	if new(big.Int).Abs(n).Cmp(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)) >= 0 {
		return 0, fmt.Errorf("%q does not fit DECIMAL(%d,%d)", s, precision, scale)
	}
	return n.Int64(), nil
}

// pow10 are the powers of ten an int64 holds.
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// plainDecimal reads the common case without big numbers: digits, an
// optional point and at most scale decimals (or more that are all zero),
// no exponent, within precision. ok is false for anything else, which the
// exact path then reads (or refuses).
func plainDecimal(s string, precision, scale int) (int64, bool) {
	neg := false
	switch {
	case s == "":
		return 0, false
	case s[0] == '-' || s[0] == '+':
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" && (!hasPoint || frac == "") {
		return 0, false
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > scale || len(intPart)+scale > 18 || precision > 18 {
		return 0, false
	}
	var n int64
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int64(c-'0')
		}
	}
	n *= pow10[scale-len(frac)]
	if n >= pow10[precision] {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// timeLayouts are the instant formats the sources use, most specific first.
// Layouts without a zone are read as UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999-0700", // ISO 8601's basic offset, without a colon (+0600)
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999-0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02",
	"02-Jan-2006 15:04:05",
	"02-Jan-2006",
}

// lastLayout is the index of the layout that read the last instant.
var lastLayout atomic.Int32

// parseTimestamp reads an instant and returns it in UTC.
func parseTimestamp(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		if s == "" || strings.HasPrefix(s, "0000-00-00") {
			return time.Time{}, errNull
		}
		// The layouts have distinct shapes, so at most one reads a value:
		// the one that read the last value goes first (a page's instants
		// share a layout), sparing the failed attempts.
		last := int(lastLayout.Load())
		if t, err := time.Parse(timeLayouts[last], s); err == nil {
			return inYears(t.UTC(), s)
		}
		for i, l := range timeLayouts {
			if i == last {
				continue
			}
			if t, err := time.Parse(l, s); err == nil {
				lastLayout.Store(int32(i))
				return inYears(t.UTC(), s)
			}
		}
		return time.Time{}, fmt.Errorf("%q is not a recognised date-time", s)
	case json.Number:
		// Unix time: seconds, or milliseconds when too large for seconds.
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s is not a Unix time", x)
		}
		if n > 1e11 || n < -1e11 {
			return inYears(time.UnixMilli(n).UTC(), string(x))
		}
		return inYears(time.Unix(n, 0).UTC(), string(x))
	}
	return time.Time{}, fmt.Errorf("want a date-time, got %s", describe(v))
}

// inYears passes an instant in years 1 to 9999 (UTC), which every reader
// of RFC 3339 can read back, and rejects any other, such as
// "0000-01-01 00:00:00+0100": the year before year 1 in UTC.
func inYears(t time.Time, raw string) (time.Time, error) {
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("%q is out of range: year %d in UTC, want 1 to 9999", raw, y)
	}
	return t, nil
}

// parseDate reads a calendar day. An instant gives its day in its own offset:
// the day the source meant.
func parseDate(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("want a date, got %s", describe(v))
	}
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "0000-00-00") {
		return time.Time{}, errNull
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a recognised date", s)
}

func parseInt(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, nil
		}
		// An integral value written with a fraction, e.g. 3.0.
		if r, ok := new(big.Rat).SetString(string(x)); ok && r.IsInt() && r.Num().IsInt64() {
			return r.Num().Int64(), nil
		}
		return 0, fmt.Errorf("%s is not a whole number", x)
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, errNull
		}
		n, err := parseInt(json.Number(s))
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %s", describe(v))
}

func parseBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case json.Number:
		switch x {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "1", "y":
			return true, nil
		case "false", "no", "0", "n":
			return false, nil
		case "":
			return false, errNull
		}
	}
	return false, fmt.Errorf("want true or false, got %s", describe(v))
}

// parseString accepts any scalar: ids arrive as numbers or strings.
func parseString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return string(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("want text, got %s", describe(v))
}

// describe names a JSON value for a reject reason, with a short sample.
func describe(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case json.Number:
		return "number " + string(x)
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprintf("%T", v)
}

// zoneLayouts are the timeLayouts that carry a UTC offset.
var zoneLayouts = timeLayouts[:4]

// Zone gives the UTC offset an instant was written in ("UTC-06:00",
// "UTC" for +00:00), for a source whose timestamps carry the shop's own:
// ok is false when the value has no offset, or says Z (a writer in UTC,
// which tells nothing of the shop's zone).
func Zone(s string) (zone string, ok bool) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		return "", false
	}
	for _, l := range zoneLayouts {
		t, err := time.Parse(l, s)
		if err != nil {
			continue
		}
		_, off := t.Zone()
		if off == 0 {
			return "UTC", true
		}
		sign := "+"
		if off < 0 {
			sign, off = "-", -off
		}
		return fmt.Sprintf("UTC%s%02d:%02d", sign, off/3600, off%3600/60), true
	}
	return "", false
}
