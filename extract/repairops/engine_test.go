package repairops_test

import (
	"testing"

	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/pipeline/pipelinetest"
)

// The warehouse half of the suite every source passes.
func TestEngineConformance(t *testing.T) {
	pipelinetest.Conformance(t, &repairops.Source, repairopstest.Conformance)
}
