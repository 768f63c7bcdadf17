package mgr

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/repairshop/export/extract/listing"
	"github.com/repairshop/export/extract/rest"
)

// This file is the one place that knows how MGR wraps its answers. Live
// use (the docs show single objects only): a list is a bare JSON array of
// up to 50 records, paged by limit and offset; a detail is the record
// object; an error is {"error":"Error message. Advice message"}, with no
// documented status code for the rate-limit error.

// decodeList reads a list response: a bare array.
func decodeList(body []byte) ([]json.RawMessage, error) {
	items, err := listing.SplitArray(body)
	if err != nil {
		// The client already retried garbled bodies; this is not an array at all.
		return nil, fmt.Errorf("response is not a JSON array: %w", err)
	}
	return items, nil
}

var (
	rateLimitText = regexp.MustCompile(`(?i)rate.?limit|too many requests|requests per minute`)
	blockedText   = regexp.MustCompile(`(?i)\b(been|are|is|now|currently) blocked\b`)
)

// errorMessage extracts {"error":"..."} (or {"error":{"message":...}}), else a snippet.
func errorMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var s string
		if json.Unmarshal(e.Error, &s) == nil {
			return s
		}
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &o) == nil && o.Message != "" {
			return o.Message
		}
		return string(e.Error)
	}
	return rest.Snippet(body)
}
