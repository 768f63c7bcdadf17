package repairops

import (
	"testing"

	"github.com/repairshop/export/extract/extracttest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
)

func TestConformance(t *testing.T) {
	extracttest.Conformance(t, &Source, repairopstest.Conformance)
}
