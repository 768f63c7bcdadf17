package transform

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a record, as encoding/json does: a page of
// JSON nested ten thousand deep is refused, not a stack to grow without end.
const maxDepth = 10000

// decoder reads JSON into the values encoding/json gives with UseNumber —
// objects as map[string]any, arrays as []any, numbers as json.Number (their
// literal text: money never passes through float64), strings unescaped —
// in one pass over the bytes, without reflection. It is the hot path of
// every page; TestDecoderMatchesEncodingJSON and FuzzDecoder hold it to
// encoding/json's results and errors.
type decoder struct {
	b []byte
	// s is b as one string: plain strings and numbers are cut from it,
	// one copy of the page instead of one allocation per value.
	s     string
	i     int
	depth int
	// deepest and longest are the deepest nesting and the longest string
	// (bytes as written) of the value being read, for the record bounds.
	deepest, longest int
	// sizes are the key counts of the last objects read at the first
	// depths: a page's records share a shape, so they size the next maps.
	// A map is made at most as large as the object before it, which the
	// page itself held.
	sizes [6]int
}

// The bounds of one record: a record nested deeper, or holding a longer
// string, is rejected with the reason (its page loads the rest). No repair
// shop's record comes near them; a broken or hostile server can, and every
// level and byte would be held in memory, then in the warehouse.
const (
	MaxRecordDepth  = 64
	MaxRecordString = 256 << 10
)

// errSyntax is a decoder's error for bytes that are not JSON.
type errSyntax struct {
	msg string
	at  int
}

func (e *errSyntax) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.at) }

func (d *decoder) fail(msg string) error { return &errSyntax{msg: msg, at: d.i} }

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// splitArray decodes a JSON array of values: each value with its raw bytes,
// and why it exceeds the record bounds ("": it does not).
func (d *decoder) splitArray(fn func(v any, raw []byte, over string)) error {
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return d.fail("want an array")
	}
	d.i++
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return d.end()
	}
	for {
		d.space()
		start := d.i
		d.deepest, d.longest = 0, 0
		v, err := d.value()
		if err != nil {
			return err
		}
		over := ""
		switch {
		case d.deepest > MaxRecordDepth:
			over = fmt.Sprintf("record is nested %d levels deep, more than the %d allowed", d.deepest, MaxRecordDepth)
		case d.longest > MaxRecordString:
			over = fmt.Sprintf("record holds a string of %d bytes, more than the %d allowed", d.longest, MaxRecordString)
		}
		fn(v, d.b[start:d.i], over)
		d.space()
		if d.i >= len(d.b) {
			return d.fail("unexpected end of the array")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return d.end()
		default:
			return d.fail("want , or ] in the array")
		}
	}
}

// end checks nothing but space follows the value.
func (d *decoder) end() error {
	d.space()
	if d.i != len(d.b) {
		return d.fail("data after the value")
	}
	return nil
}

func (d *decoder) value() (any, error) {
	d.space()
	if d.i >= len(d.b) {
		return nil, d.fail("unexpected end of JSON")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, d.fail("invalid character")
}

func (d *decoder) literal(word string) error {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return d.fail("invalid literal")
	}
	d.i += len(word)
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	d.deepest = max(d.deepest, d.depth)
	if d.depth > maxDepth {
		return d.fail(fmt.Sprintf("exceeded max depth of %d", maxDepth))
	}
	return nil
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	d.i++ // {
	var m map[string]any
	if d.depth < len(d.sizes) {
		m = make(map[string]any, max(8, d.sizes[d.depth]))
		defer func() { d.sizes[d.depth] = len(m) }() // runs before the depth's own defer
	} else {
		m = make(map[string]any, 8)
	}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, d.fail("want a string key in the object")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, d.fail("want : after the object key")
		}
		d.i++
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v // a repeated key: the last wins, as in encoding/json
		d.space()
		if d.i >= len(d.b) {
			return nil, d.fail("unexpected end of the object")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, nil
		default:
			return nil, d.fail("want , or } in the object")
		}
	}
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	d.i++ // [
	a := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, d.fail("unexpected end of the array")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return a, nil
		default:
			return nil, d.fail("want , or ] in the array")
		}
	}
}

// str reads a string. Plain ASCII and valid UTF-8 without escapes (nearly
// every string) is sliced out as is; anything else is left to
// encoding/json, so escapes and invalid bytes come out as it makes them.
func (d *decoder) str() (string, error) {
	start := d.i
	d.i++ // "
	plain := true
	for {
		if d.i >= len(d.b) {
			return "", d.fail("unexpected end of a string")
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			raw := d.b[start:d.i]
			d.longest = max(d.longest, len(raw)-2)
			if plain {
				return d.s[start+1 : d.i-1], nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", &errSyntax{msg: "invalid string: " + err.Error(), at: start}
			}
			return s, nil
		case c == '\\':
			plain = false
			d.i += 2 // the escaped byte cannot end the string
		case c < 0x20:
			return "", d.fail("control character in a string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			d.i += size
		default:
			d.i++
		}
	}
}

// number reads a number by JSON's grammar and keeps its text.
func (d *decoder) number() (any, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case digits() == 0:
		return nil, d.fail("invalid number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, d.fail("invalid number")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, d.fail("invalid number")
		}
	}
	return json.Number(d.s[start:d.i]), nil
}

// newDecoder reads b. The values it gives share one copy of b (not b
// itself: the caller may reuse it), so a string kept past the batch should
// be cloned, or it holds the whole page.
func newDecoder(b []byte) decoder { return decoder{b: b, s: string(b)} }

// decodeValue decodes one JSON value, whole.
func decodeValue(b []byte) (any, error) {
	d := newDecoder(b)
	v, err := d.value()
	if err == nil {
		err = d.end()
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// isSyntax reports a decoder's syntax error.
func isSyntax(err error) bool {
	var se *errSyntax
	return errors.As(err, &se)
}
