package mgr_test

import (
	"testing"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/pipeline/pipelinetest"
)

// The warehouse half of the suite every source passes.
func TestEngineConformance(t *testing.T) {
	pipelinetest.Conformance(t, &mgr.Source, mgrtest.Conformance)
}
