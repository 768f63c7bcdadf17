// Package export_test holds the tests of the repository's shape: which
// package may import which, and where a source may be named. The package
// map and the reasons are in docs/architecture.md.
package export_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/repairshop/export/"

// imports lists every package of the module with what it imports (test
// files left out: a test may drive a package from above).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-tags", "duckdb_arrow", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkgs[strings.TrimPrefix(fields[0], module)] = fields[1:]
	}
	return pkgs
}

// TestDependenciesPointOneWay keeps the direction cmd → pipeline → load →
// transform → schema, with pipeline → extract beside it: a source never
// touches the warehouse, Arrow or DuckDB; the loader never knows a source;
// the webhook receiver never opens the warehouse (it runs beside a run).
func TestDependenciesPointOneWay(t *testing.T) {
	ours := func(p string) string { return module + p }
	forbidden := map[string][]string{
		"schema":    {ours("")},
		"queries":   {ours("")},
		"transform": {ours("load"), ours("extract"), ours("pipeline"), ours("config"), "github.com/duckdb/", "net/http", "os"},
		"load":      {ours("extract"), ours("pipeline"), ours("config"), ours("cmd"), ours("lake")},
		"extract":   {ours("load"), ours("transform"), ours("pipeline"), ours("config"), ours("cmd"), "github.com/duckdb/", "github.com/apache/arrow-go/"},
		"config":    {ours("load"), ours("transform"), ours("pipeline"), ours("cmd")},
		"pipeline":  {ours("cmd"), ours("lake")},
		"lake":      {ours("cmd")},
		"receive":   {ours(""), "github.com/duckdb/", "github.com/apache/arrow-go/"},
	}
	pkgs := imports(t)
	for _, must := range []string{"schema", "transform", "load", "extract", "extract/sources", "config", "pipeline", "receive", "lake", "cmd/export"} {
		if _, ok := pkgs[must]; !ok {
			t.Fatalf("package %s is missing: the map above is out of date", must)
		}
	}
	// iceberg-go triples the dependency tree: the lake and the command
	// line that wires it in only.
	for pkg, imps := range pkgs {
		top := strings.SplitN(pkg, "/", 2)[0]
		for _, imp := range imps {
			if strings.HasPrefix(imp, "github.com/apache/iceberg-go") && top != "lake" && top != "cmd" && top != "bench" {
				t.Errorf("%s imports %s: only package lake may", pkg, imp)
			}
		}
	}
	for pkg, imps := range pkgs {
		top := strings.SplitN(pkg, "/", 2)[0]
		for _, imp := range imps {
			for _, bad := range forbidden[top] {
				if imp == bad || strings.HasPrefix(imp, strings.TrimSuffix(bad, "/")+"/") || imp == strings.TrimSuffix(bad, "/") {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}
	// The chain itself: each layer uses the one below it.
	for _, edge := range [][2]string{{"cmd/export", "pipeline"}, {"pipeline", "load"}, {"load", "transform"}, {"transform", "schema"}, {"pipeline", "extract"}} {
		found := false
		for _, imp := range pkgs[edge[0]] {
			found = found || imp == module+edge[1]
		}
		if !found {
			t.Errorf("%s does not import %s", edge[0], edge[1])
		}
	}
}

// sourceDirs are the folders of the sources: extract/<name>/ holding a
// source.go.
func sourceDirs(t *testing.T) []string {
	t.Helper()
	found, err := filepath.Glob("extract/*/source.go")
	if err != nil || len(found) == 0 {
		t.Fatalf("no source folders found: %v", err)
	}
	var names []string
	for _, f := range found {
		names = append(names, filepath.Base(filepath.Dir(f)))
	}
	return names
}

// TestOnlyTheListNamesASource keeps every source behind the contract: no
// code outside a source's own folder and the list of sources imports it or
// branches on its name, so a new source is its folder plus one line.
func TestOnlyTheListNamesASource(t *testing.T) {
	names := sourceDirs(t)
	// The benchmark harness generates one source's pages on purpose, as a
	// test would.
	allowed := func(pkg, src string) bool {
		return pkg == "extract/sources" || pkg == "bench" || pkg == "extract/"+src || strings.HasPrefix(pkg, "extract/"+src+"/")
	}
	for pkg, imps := range imports(t) {
		for _, imp := range imps {
			for _, src := range names {
				p := module + "extract/" + src
				if (imp == p || strings.HasPrefix(imp, p+"/")) && !allowed(pkg, src) {
					t.Errorf("%s imports the source package %s; go through extract/sources", pkg, imp)
				}
			}
		}
	}
	literal := regexp.MustCompile(`"(` + strings.Join(names, "|") + `)"`)
	comment := regexp.MustCompile(`(?m)^\s*//.*$`)
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		for _, src := range names {
			if allowed(pkg, src) {
				return nil
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := literal.Find(comment.ReplaceAll(data, nil)); m != nil {
			t.Errorf("%s names the source %s: take it from the source's description instead", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSharedSQLNamesNoSourceTable scans the SQL outside the sources'
// folders (shipped queries, the conformed views) for a source's schema:
// `mgr.tickets` in a shared query ties it to one vendor. It reads
// comments too: a description is documentation of the same tie.
func TestSharedSQLNamesNoSourceTable(t *testing.T) {
	schemaRef := regexp.MustCompile(`\b(` + strings.Join(sourceDirs(t), "|") + `)\.[a-z_]+`)
	for _, dir := range []string{"queries", "model"} {
		files, err := filepath.Glob(dir + "/*.sql")
		if err != nil || len(files) == 0 {
			t.Fatalf("no SQL in %s: %v", dir, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if m := schemaRef.Find(data); m != nil {
				t.Errorf("%s names a source's table (%s): write it over main.* (a view reads parts: model/parts.go), or ship it in the source's folder", f, m)
			}
		}
	}
}
