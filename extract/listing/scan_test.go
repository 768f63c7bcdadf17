package listing

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// scanCases are inputs on both sides of the fast path's edges: what
// encoding/json accepts, what it refuses, and what it reads in a way the
// scan must leave to it.
var scanCases = []string{
	`[]`, ` [ ] `, `null`, ` null `, `[null]`, `[1,"a",true,false,null,{},[]]`,
	`[{"id":1,"name":"x"} , {"id":"A-2"}]`, "[\n\t{\"id\": 3}\r\n]",
	`[-0, 0.5, 1e9, -1E-2, 2e+3, 12345678901234567890]`,
	`["\u00e9\n\"\\\/\b\f\r\t", "é", "\ud83d\ude00"]`,
	// refused by encoding/json
	``, ` `, `[`, `]`, `[,]`, `[1,]`, `[1 2]`, `[01]`, `[1.]`, `[.5]`, `[1e]`, `[-]`, `[+1]`,
	`[tru]`, `[nul]`, `["a]`, `["\x"]`, `["\u12"]`, `["\u12g4"]`, "[\"a\x01\"]", `[{"a"}]`,
	`[{"a":}]`, `[{1:2}]`, `[{"a":1,}]`, `[1]x`, `[1][2]`, `[{""}]`, `[{"a":1]`, `[[1}]`, `[{"a":1 x]`,
	// other types: encoding/json's type error
	`{}`, `{"id":1}`, `"a"`, `1`, `true`,
	// bytes outside ASCII and invalid UTF-8 in strings
	"[\"\xff\xfe\"]", "[{\"id\":\"\xff\"}]",
	// nesting at encoding/json's limit and past it
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
}

func TestSplitArrayAnswersAsEncodingJSON(t *testing.T) {
	for _, in := range scanCases {
		t.Run(fmt.Sprintf("%.40q", in), func(t *testing.T) { sameSplit(t, []byte(in)) })
	}
}

// sameSplit fails unless SplitArray gives what json.Unmarshal into a
// []json.RawMessage gives: the same elements, or an error exactly when it
// errs.
func sameSplit(t *testing.T, in []byte) {
	t.Helper()
	var want []json.RawMessage
	wantErr := json.Unmarshal(in, &want)
	got, err := SplitArray(in)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("SplitArray(%q): error %v, encoding/json's %v", in, err, wantErr)
	}
	if err != nil {
		return
	}
	if (got == nil) != (want == nil) || !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("SplitArray(%q) = %q, encoding/json gives %q", in, got, want)
	}
}

func TestSplitArrayElementsDoNotOverwriteEachOther(t *testing.T) {
	items, err := SplitArray([]byte(`[1,2]`))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(items[0], 'x') // an element's capacity ends where it does
	if string(items[1]) != "2" {
		t.Fatalf("appending to the first element changed the second: %q", items[1])
	}
}

var idCases = []string{
	`{"id":"T-1"}`, `{"id":42}`, `{"id":12345678901234567890}`, `{"id":""}`, `{"id":null}`,
	`{"number":"T-1"}`, `not json`, `{"ID":7}`, `{"Id":"a"}`, `{"iD":1.50}`,
	`{"id":1,"id":2}`, `{"id":1,"ID":null}`, `{"id":null,"id":3}`, `{"id":[1, 2]}`, `{"id":{"a":1}}`,
	`{"id":true}`, `{"id":"a\"b"}`, `{"id":"\u0041"}`, `{"\u0069d":5}`, `{"\u0069d":5,"id":6}`,
	"{\"\u0130d\":8}", "{\"\u0131D\":9}", "{\"id\":\"\xff\"}", "{\"id\":\"é\"}",
	`{"id":1}x`, `{"id":1,}`, `{"id":1]`, `{"a":{"b":1]}`, `{"id":01}`, `[{"id":1}]`, `"id"`, ` {"id" : "s" } `, `{}`,
}

func TestRecordIDAnswersAsEncodingJSON(t *testing.T) {
	for _, in := range idCases {
		got, gotOK := RecordID(json.RawMessage(in))
		want, wantOK := recordIDSlow(json.RawMessage(in))
		if got != want || gotOK != wantOK {
			t.Errorf("RecordID(%q) = %q, %v; encoding/json reads %q, %v", in, got, gotOK, want, wantOK)
		}
	}
}

func FuzzSplitArray(f *testing.F) {
	for _, in := range scanCases {
		if len(in) < 100 { // the nesting cases would slow every mutation
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) { sameSplit(t, in) })
}

func FuzzRecordID(f *testing.F) {
	for _, in := range idCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, gotOK := RecordID(in)
		want, wantOK := recordIDSlow(in)
		if got != want || gotOK != wantOK {
			t.Fatalf("RecordID(%q) = %q, %v; encoding/json reads %q, %v", in, got, gotOK, want, wantOK)
		}
	})
}

func BenchmarkSplitArray(b *testing.B) {
	page := benchPage()
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if _, err := SplitArray(page); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitArrayEncodingJSON(b *testing.B) {
	page := benchPage()
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		var items []json.RawMessage
		if err := json.Unmarshal(page, &items); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordID(b *testing.B) {
	items, _ := SplitArray(benchPage())
	for b.Loop() {
		for _, it := range items {
			RecordID(it)
		}
	}
}

func BenchmarkRecordIDEncodingJSON(b *testing.B) {
	items, _ := SplitArray(benchPage())
	for b.Loop() {
		for _, it := range items {
			recordIDSlow(it)
		}
	}
}

// benchPage is a list page of 50 tickets shaped as MGR sends them.
func benchPage() []byte {
	var recs []string
	for i := range 50 {
		recs = append(recs, fmt.Sprintf(`{"id":%d,"ticket_ref":"N-%07d","description":"Apple iPhone 13 - Cracked screen","created_date":"2026-01-02T10:04:05-0600","last_updated":"2026-01-03T11:00:00-0600","status":{"id":103,"label":"In Progress"},"issue_type":{"id":201,"label":"Battery"},"customer":{"id":%d,"first_name":"Ana","last_name":"Diaz","email":"ana@example.com","phone":"+1 555 0100"},"assigned_to":{"id":11,"first_name":"Dana","last_name":"Whitfield"},"device":{"make":"Apple","model":"iPhone 13","imei":"356938035643809"},"invoice":{},"custom_fields":[{"name":"Passcode","value":"1234"}],"notes":"Customer says it was dropped."}`, 100000+i, i, 500+i))
	}
	return []byte("[" + strings.Join(recs, ",") + "]")
}
