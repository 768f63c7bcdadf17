// Package oneline fits text into one line of a message or a table cell:
// runs of white space (newlines included) become one space, and a text
// longer than its room is cut, marked with "…". Messages, check's
// diagnoses and status's cells all go through it, so they cut the same way.
package oneline

import "strings"

// Cut is s on one line, at most n characters (runes).
func Cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
