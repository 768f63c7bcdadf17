package tiny_test

import (
	"testing"

	"github.com/repairshop/export/extract/extracttest"
	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/internal/tiny/tinytest"
)

// The third source passes the suite every source passes.
func TestConformance(t *testing.T) {
	extracttest.Conformance(t, &tiny.Source, tinytest.Conformance)
}
