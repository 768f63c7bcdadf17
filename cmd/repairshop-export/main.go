// Command repairshop-export copies repair-shop data (My Gadget Repairs,
// RepairOps) into a DuckDB warehouse and a Parquet tree. Everything but
// this line is package export (cmd/export).
package main

import (
	"os"

	export "github.com/repairshop/export/cmd/export"
)

func main() { os.Exit(export.Main()) }
