package extract

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/extract/archive"
	"github.com/repairshop/export/schema"
)

// complete is a Source with every required part, none of them real.
func complete() *Source {
	tb := &schema.Table{Name: "things"}
	return &Source{
		Name: "fake", Title: "A Fake API", Short: "Fake", Limits: "10 requests a minute",
		Tables:    []*schema.Table{tb},
		Resources: []Resource{{Name: "things", Table: tb}},
		Options:   func() Options { return nil },
		Pace:      func(Account) Pace { return Pace{} },
		Open:      func(Env) (Session, error) { return nil, nil },
		Decode:    func(archive.Entry) (Decoded, error) { return Decoded{}, nil },
		PlanList: func(context.Context, Account, Resource, int64, Stored, time.Time) (int64, string, bool, error) {
			return 0, "", false, nil
		},
	}
}

func TestValidateNamesEachMissingPart(t *testing.T) {
	if err := Validate(complete()); err != nil {
		t.Fatalf("a complete source: %v", err)
	}
	for _, c := range []struct {
		field string
		drop  func(s *Source)
	}{
		{"Name", func(s *Source) { s.Name = "" }},
		{"Name", func(s *Source) { s.Name = "My Source" }},
		{"Title", func(s *Source) { s.Title = "" }},
		{"Short", func(s *Source) { s.Short = "" }},
		{"Limits", func(s *Source) { s.Limits = "" }},
		{"Tables", func(s *Source) { s.Tables = nil }},
		{"Resources", func(s *Source) { s.Resources = nil }},
		{"Resources[things].Table", func(s *Source) { s.Resources[0].Table = nil }},
		{"Options", func(s *Source) { s.Options = nil }},
		{"Pace", func(s *Source) { s.Pace = nil }},
		{"Open", func(s *Source) { s.Open = nil }},
		{"Decode", func(s *Source) { s.Decode = nil }},
		{"PlanList", func(s *Source) { s.PlanList = nil }},
		{"Webhooks.EventID", func(s *Source) { s.Webhooks = &Webhooks{} }},
	} {
		t.Run(c.field, func(t *testing.T) {
			s := complete()
			c.drop(s)
			err := Validate(s)
			if err == nil || !strings.Contains(err.Error(), c.field) {
				t.Errorf("without %s: %v", c.field, err)
			}
		})
	}
	if Validate(nil) == nil {
		t.Error("a nil source passed")
	}
}
