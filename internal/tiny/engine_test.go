package tiny_test

import (
	"testing"

	"github.com/repairshop/export/internal/tiny"
	"github.com/repairshop/export/internal/tiny/tinytest"
	"github.com/repairshop/export/pipeline/pipelinetest"
)

// The warehouse half of the suite, on the third source.
func TestEngineConformance(t *testing.T) {
	tiny.Register()
	pipelinetest.Conformance(t, &tiny.Source, tinytest.Conformance)
}
