package mgr

import (
	"testing"

	"github.com/repairshop/export/extract/extracttest"
	"github.com/repairshop/export/extract/mgr/mgrtest"
)

func TestConformance(t *testing.T) {
	extracttest.Conformance(t, &Source, mgrtest.Conformance)
}
