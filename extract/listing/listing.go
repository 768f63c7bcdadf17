// Package listing reads what an exporter needs from the records of a list
// page without knowing their schema: a record's id, a fingerprint of the
// fields whose change means its detail changed too, and its date. Both
// sources' clients use it to feed the detail queue, so "is this record's
// detail due?" is decided the same way for every API.
package listing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Listed is what a run keeps of a record seen on a list page of a resource
// with a detail endpoint: enough to decide whether to fetch the detail, and
// in which order.
type Listed struct {
	ID, Fingerprint string
	// Created orders the detail queue (newest first); zero when the record
	// has no readable date.
	Created time.Time
}

// RecordID returns a record's id as text, whether the JSON has it as a
// string or a number.
func RecordID(rec json.RawMessage) (string, bool) {
	raw, found, ok := recordIDFast(rec)
	if !ok {
		return recordIDSlow(rec)
	}
	if !found || string(raw) == "null" {
		return "", false
	}
	if raw[0] != '"' {
		return string(raw), true
	}
	s := string(raw[1 : len(raw)-1])
	if !plainText(s) { // escapes, or bytes outside ASCII (invalid UTF-8 is read as U+FFFD)
		s = ""
		json.Unmarshal(raw, &s)
	}
	return s, s != ""
}

// plainText says whether a string's bytes are its text in JSON: no
// escape, all ASCII.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// recordIDSlow is RecordID by encoding/json, for what the fast path does
// not read.
func recordIDSlow(rec json.RawMessage) (string, bool) {
	var r struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(rec, &r) != nil || len(r.ID) == 0 || string(r.ID) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(r.ID, &s) == nil {
		return s, s != ""
	}
	return string(r.ID), true
}

// Fingerprint summarises the fields (dotted paths) of a record that reveal
// a change of its detail. Two fetches of an unchanged record give the same
// value. A record carrying none of the fields is fingerprinted whole, so
// that a change is never missed for lack of knowing the spelling.
func Fingerprint(fields []string, rec json.RawMessage) string {
	var obj map[string]any
	dec := json.NewDecoder(strings.NewReader(string(rec)))
	dec.UseNumber()
	if dec.Decode(&obj) != nil {
		sum := sha256.Sum256(rec)
		return hex.EncodeToString(sum[:12])
	}
	picked := map[string]any{}
	for _, f := range fields {
		if v, ok := Lookup(obj, f); ok {
			picked[f] = v
		}
	}
	if len(picked) == 0 {
		picked = obj
	}
	b, _ := json.Marshal(picked) // maps marshal with sorted keys: stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Lookup follows a dotted path through nested objects.
func Lookup(obj map[string]any, path string) (any, bool) {
	var cur any = obj
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Summarise lists the records of a page (a JSON array) for the detail
// queue: id, fingerprint over fpFields, and the first readable time among
// timeFields. Records without an id are left out: they cannot be fetched
// (the transform quarantines them).
func Summarise(records json.RawMessage, fpFields, timeFields []string) []Listed {
	items, err := SplitArray(records)
	if err != nil {
		return nil
	}
	out := make([]Listed, 0, len(items))
	for _, it := range items {
		id, ok := RecordID(it)
		if !ok {
			continue
		}
		l := Listed{ID: id, Fingerprint: Fingerprint(fpFields, it)}
		var obj map[string]any
		if json.Unmarshal(it, &obj) == nil {
			l.Created = FirstTime(obj, timeFields)
		}
		out = append(out, l)
	}
	return out
}

// SoleID is the id of the one record of a page (a detail response wrapped
// in an array), or "" when the page holds another number of records or the
// record has no id.
func SoleID(records json.RawMessage) string {
	if l := Summarise(records, nil, nil); len(l) == 1 {
		return l[0].ID
	}
	return ""
}

// FirstTime is the first of fields that holds a readable time, or zero.
func FirstTime(obj map[string]any, fields []string) time.Time {
	for _, f := range fields {
		if v, ok := Lookup(obj, f); ok {
			if s, ok := v.(string); ok {
				if t, err := ParseTime(s); err == nil {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// ParseTime reads the instants and days both APIs send (RFC 3339, MGR's
// offset without a colon, a bare date) and returns them in UTC.
func ParseTime(s string) (time.Time, error) {
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}
