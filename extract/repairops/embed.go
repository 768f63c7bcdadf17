package repairops

import (
	"embed"

	"github.com/repairshop/export/extract"
)

// The source's fragments of the conformed model (model/<part>.sql) and
// its own analytics queries (queries/<name>.sql).
var (
	//go:embed model/*.sql
	modelFiles embed.FS
	model      = extract.Sub(modelFiles, "model")

	//go:embed queries/*.sql
	queryFiles embed.FS
	queries    = extract.Sub(queryFiles, "queries")
)
