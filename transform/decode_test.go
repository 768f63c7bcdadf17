package transform

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// reference decodes as encoding/json does with UseNumber (json.Valid
// judges the whole input, trailing bytes included).
func reference(b []byte) (any, error) {
	if !json.Valid(b) {
		return nil, &errSyntax{msg: "not valid JSON"}
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

var decoderCases = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `12.50`, `1e3`, `-1.5E-7`, `259.99000000000001`,
	`"plain"`, `"caf\u00e9"`, `"tab\tand \"quotes\" and \\ and \/"`, `"\ud83d\ude00"`, `"\ud800"`, "\"bad \xff byte\"",
	"\"é and 漢字\"", `{"a":1,"a":2}`, `{"id":1,"status":{"label":"New"},"tags":["x",null,{"y":[]}]}`,
	` [ 1 , 2 ] `, `{"a" : {"b" : {"c" : null}}}`,
	// Not JSON: each must fail.
	``, `[`, `{"a":}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `"unterminated`, `"ctrl` + "\x01" + `"`,
	`{"a" 1}`, `{1:2}`, `tru`, `nul`, `[1 2]`, `{"a":1}}`, `"\x"`, `'single'`, `NaN`,
}

// The decoder gives what encoding/json gives, value for value, and fails
// where it fails.
func TestDecoderMatchesEncodingJSON(t *testing.T) {
	for _, c := range decoderCases {
		want, werr := reference([]byte(c))
		got, gerr := decodeValue([]byte(c))
		if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %#v (%v), encoding/json %#v (%v)", c, got, gerr, want, werr)
		}
	}
}

func TestDecoderRefusesDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if _, err := decodeValue([]byte(deep)); err == nil || !strings.Contains(err.Error(), "max depth") {
		t.Errorf("nesting %d deep: %v", maxDepth+1, err)
	}
	ok := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	if _, err := decodeValue([]byte(ok)); err != nil {
		t.Errorf("nesting 100 deep: %v", err)
	}
}

func FuzzDecoder(f *testing.F) {
	for _, c := range decoderCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := reference(b)
		got, gerr := decodeValue(b)
		if werr != nil && strings.Contains(werr.Error(), "exceeded max depth") {
			return // both refuse; the depth counts differ by one
		}
		if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %#v (%v), encoding/json %#v (%v)", b, got, gerr, want, werr)
		}
	})
}

// The fast decimal reader agrees with the exact one wherever it answers.
func FuzzPlainDecimal(f *testing.F) {
	for _, s := range []string{"259.99", "-0.5", "+12", "1234567890123456.78", "0.10", ".5", "5.", "00012.3400", "9999999999999999.99", "1e3", "12.345", "-", "", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, scale := range []int{2, 4} {
			n, ok := plainDecimal(s, 18, scale)
			if !ok {
				continue
			}
			want, err := exactDecimal(s, 18, scale, false)
			if err != nil || want != n {
				t.Errorf("%q at scale %d: fast %d, exact %d (%v)", s, scale, n, want, err)
			}
		}
	})
}

func TestZone(t *testing.T) {
	for _, tc := range []struct{ in, zone string }{
		{"2026-07-16T10:00:00-0600", "UTC-06:00"},
		{"2026-07-16T10:00:00+0530", "UTC+05:30"},
		{"2026-02-15T10:30:00Z", ""}, // written in UTC: not the shop's offset
		{"2026-02-15T10:30:00+00:00", "UTC"},
		{"2026-02-15T10:30:00.5+01:00", "UTC+01:00"},
		{"2026-02-15 10:30:00", ""},
		{"2026-02-15", ""},
		{"soon", ""},
	} {
		if got, ok := Zone(tc.in); got != tc.zone || ok != (tc.zone != "") {
			t.Errorf("Zone(%q) = %q, %v; want %q", tc.in, got, ok, tc.zone)
		}
	}
}

// appendJSON writes what encoding/json.Marshal writes, byte for byte, for
// every value the decoder gives.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	extra := []string{
		`{"b":1,"a":{"z":[1,"x",null,true,false,{}],"y":"<tag> & \u2028 \u2029"},"":"","\u00e9":"\b\f\n\r\t\u0001\u001f\u007f"}`,
		"\"bad \xff byte and \xe2\x80 cut\"", `"caf\u00e9 漢字 \ud83d\ude00"`, `{"k\"ey":"v\\al"}`, `[]`, `[[[]]]`, `-0.5e+10`,
	}
	for _, c := range append(decoderCases, extra...) {
		v, err := decodeValue([]byte(c))
		if err != nil {
			continue
		}
		want, werr := json.Marshal(v)
		got, gerr := appendJSON(nil, v)
		if werr != nil || gerr != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: appendJSON %s (%v), Marshal %s (%v)", c, got, gerr, want, werr)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, c := range decoderCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeValue(b)
		if err != nil {
			return
		}
		want, werr := json.Marshal(v)
		got, gerr := appendJSON(nil, v)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Errorf("%q: appendJSON %s (%v), Marshal %s (%v)", b, got, gerr, want, werr)
		}
	})
}
