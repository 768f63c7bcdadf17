package listing

import "encoding/json"

// A fast path for the JSON every page goes through twice or three times:
// splitting a list page into its records, and finding each record's id.
// encoding/json does both by validating the bytes, then decoding them in
// a second pass (a fifth of an unthrottled run's Go time). Here one pass
// does both, and only the plain case: whatever the scan does not accept
// (a syntax error, a key spelt with an escape or outside ASCII, which
// encoding/json matches by Unicode case folding) goes to encoding/json,
// whose answer is then the answer. So the fast path need only never accept
// what encoding/json rejects, nor read it differently; FuzzSplitArray and
// FuzzRecordID check both against encoding/json.

// maxDepth is encoding/json's nesting limit: deeper input is an error.
const maxDepth = 10000

// scanner walks one JSON text, validating it as encoding/json does.
type scanner struct {
	data  []byte
	i     int
	depth int
	ok    bool // false once the input is not JSON the scan accepts
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// fail marks the input refused and returns false.
func (s *scanner) fail() bool {
	s.ok = false
	return false
}

// value scans one value, after any whitespace before it.
func (s *scanner) value() bool {
	s.space()
	if s.i >= len(s.data) {
		return s.fail()
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array(nil)
	case c == '"':
		_, ok := s.string()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return s.fail()
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return s.fail()
	}
	s.i += len(word)
	return true
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() bool {
	if s.data[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.data) {
		return s.fail()
	}
	if s.data[s.i] == '0' {
		s.i++
	} else if !s.digits() {
		return false
	}
	if s.i < len(s.data) && s.data[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(s.data) && (s.data[s.i] == 'e' || s.data[s.i] == 'E') {
		s.i++
		if s.i < len(s.data) && (s.data[s.i] == '+' || s.data[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits scans one or more decimal digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.data) && '0' <= s.data[s.i] && s.data[s.i] <= '9' {
		s.i++
	}
	if s.i == start {
		return s.fail()
	}
	return true
}

// string scans a string and says whether it is plain: no escape and no
// byte outside ASCII, so that its bytes are its text.
func (s *scanner) string() (plain, ok bool) {
	s.i++ // the opening quote
	plain = true
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			return plain, true
		case c < 0x20:
			return false, s.fail()
		case c == '\\':
			plain = false
			s.i++
			if s.i >= len(s.data) {
				return false, s.fail()
			}
			switch s.data[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				if len(s.data)-s.i < 4 {
					return false, s.fail()
				}
				for _, h := range s.data[s.i : s.i+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false, s.fail()
					}
				}
				s.i += 4
			default:
				return false, s.fail()
			}
		default:
			if c >= 0x80 {
				plain = false
			}
			s.i++
		}
	}
	return false, s.fail()
}

// open scans the opening byte of an array or object and says whether it
// closes at once (close being its closing byte).
func (s *scanner) open(close byte) (empty, ok bool) {
	if s.depth++; s.depth > maxDepth {
		return false, s.fail()
	}
	s.i++
	s.space()
	if s.i < len(s.data) && s.data[s.i] == close {
		s.i++
		s.depth--
		return true, true
	}
	return false, true
}

// next scans what follows an element or a member: a comma (more follow)
// or the closing byte.
func (s *scanner) next(close byte) (more, ok bool) {
	s.space()
	if s.i >= len(s.data) {
		return false, s.fail()
	}
	switch s.data[s.i] {
	case ',':
		s.i++
		return true, true
	case close:
		s.i++
		s.depth--
		return false, true
	}
	return false, s.fail()
}

// array scans an array, calling each (if not nil) with every element's
// bytes.
func (s *scanner) array(each func(elem []byte)) bool {
	empty, ok := s.open(']')
	for more := !empty; ok && more; {
		s.space()
		start := s.i
		if !s.value() {
			return false
		}
		if each != nil {
			each(s.data[start:s.i:s.i])
		}
		more, ok = s.next(']')
	}
	return ok
}

// object scans an object, calling each (if not nil) with every member's
// key (its bytes between the quotes), whether the key is plain, and its
// value's bytes.
func (s *scanner) object(each func(key []byte, plain bool, value []byte)) bool {
	empty, ok := s.open('}')
	for more := !empty; ok && more; {
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return s.fail()
		}
		kstart := s.i + 1
		plain, closed := s.string()
		if !closed {
			return false
		}
		key := s.data[kstart : s.i-1]
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return s.fail()
		}
		s.i++
		s.space()
		vstart := s.i
		if !s.value() {
			return false
		}
		if each != nil {
			each(key, plain, s.data[vstart:s.i:s.i])
		}
		more, ok = s.next('}')
	}
	return ok
}

// end says whether only whitespace follows.
func (s *scanner) end() bool {
	s.space()
	if s.i != len(s.data) {
		return s.fail()
	}
	return true
}

// SplitArray returns the elements of a JSON array, each as it is written
// (a slice of data, which must not change afterwards). It answers as
// json.Unmarshal into a []json.RawMessage does, error for error: JSON null
// gives no elements and no error.
func SplitArray(data []byte) ([]json.RawMessage, error) {
	s := scanner{data: data, ok: true}
	s.space()
	if s.i < len(data) && data[s.i] == '[' {
		items := []json.RawMessage{}
		if s.array(func(e []byte) { items = append(items, e) }) && s.end() && s.ok {
			return items, nil
		}
	}
	// null, another type, or not JSON: encoding/json's answer and error.
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	return items, nil
}

// recordIDFast is RecordID's value of "id" (last member whose key matches
// it, ASCII case aside, as encoding/json matches a field) for a plain
// record; ok is false when the record needs encoding/json to be read.
func recordIDFast(rec []byte) (id []byte, found, ok bool) {
	s := scanner{data: rec, ok: true}
	s.space()
	if s.i >= len(rec) || rec[s.i] != '{' {
		return nil, false, false
	}
	plainKeys := true
	s.object(func(key []byte, plain bool, value []byte) {
		if !plain {
			plainKeys = false
			return
		}
		if len(key) == 2 && key[0]|0x20 == 'i' && key[1]|0x20 == 'd' {
			id, found = value, true
		}
	})
	if !s.ok || !s.end() || !plainKeys {
		return nil, false, false
	}
	return id, found, true
}
