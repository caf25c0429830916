package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// module is the import path of this module, as go.mod names it.
const module = "github.com/skinflip/dmarket-monitor"

// graph maps the import path of each package of the module to the import paths its non-test files
// import.
type graph map[string][]string

// rule is one dependency rule: no package inside scope may import a path that forbidden reports for it.
// A transitive rule also follows the package's imports inside the module, so that a forbidden import
// cannot hide behind an intermediate package.
type rule struct {
	name       string
	scope      func(pkg string) bool
	forbidden  func(pkg, path string) bool
	transitive bool
}

// under reports whether path is dir or a package below it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// internal returns the import path of internal/<rel> in this module.
func internal(rel string) string { return module + "/internal/" + rel }

// rules are the dependency rules of docs/architecture.md.
var rules = []rule{
	{
		name:  "the domain imports no adapter: internal/market imports only market packages of the module",
		scope: func(pkg string) bool { return under(pkg, internal("market")) },
		forbidden: func(_, path string) bool {
			return under(path, module) && !under(path, internal("market"))
		},
	},
	{
		name:  "offers is pure computation: internal/bot/offers reaches neither go-redis nor prometheus",
		scope: func(pkg string) bool { return under(pkg, internal("bot/offers")) },
		forbidden: func(_, path string) bool {
			return under(path, "github.com/redis/go-redis") || under(path, "github.com/prometheus")
		},
		transitive: true,
	},
	{
		name:  "platform imports no domain: internal/platform imports nothing of market, parser, worker or bot",
		scope: func(pkg string) bool { return under(pkg, internal("platform")) },
		forbidden: func(_, path string) bool {
			for _, dir := range []string{"market", "parser", "worker", "bot"} {
				if under(path, internal(dir)) {
					return true
				}
			}
			return false
		},
	},
	{
		name:  "a binary's packages import no other binary's: parser, worker and bot stay apart",
		scope: func(pkg string) bool { return binaryOf(pkg) != "" },
		forbidden: func(pkg, path string) bool {
			b := binaryOf(path)
			return b != "" && b != binaryOf(pkg)
		},
	},
	{
		name: "shared adapters import no binary's package: pricestore, dmarket, message and the other shared " +
			"packages import nothing of parser, worker or bot",
		scope: sharedAdapter,
		forbidden: func(pkg, path string) bool {
			return binaryOf(path) != "" && !binaryImportsLeft[pkg][path]
		},
	},
}

// binaryImportsLeft are the imports of a binary's package by a shared adapter that docs/architecture.md
// still lists: pricestore's write side takes worker/validate's validated items.
var binaryImportsLeft = map[string]map[string]bool{
	internal("pricestore"): {internal("worker/validate"): true},
}

// sharedAdapter reports whether pkg is a shared adapter: a package of internal/ outside the binaries'
// packages, the domain and the platform, other than the end-to-end tests, this test and the `*test`
// helper packages (a contract suite names the port that its consumer, a binary's package, declares).
func sharedAdapter(pkg string) bool {
	if !strings.HasPrefix(pkg, internal("")) || binaryOf(pkg) != "" || strings.HasSuffix(pkg, "test") {
		return false
	}
	for _, dir := range []string{"market", "platform", "e2e"} {
		if under(pkg, internal(dir)) {
			return false
		}
	}
	return true
}

// binaryOf returns the binary ("parser", "worker" or "bot") whose packages hold pkg, or "".
func binaryOf(pkg string) string {
	for _, b := range []string{"parser", "worker", "bot"} {
		if under(pkg, internal(b)) {
			return b
		}
	}
	return ""
}

// violations lists, for every package of g that a rule scopes, each forbidden import reached from it,
// as "rule: package -> import (via chain)".
func violations(g graph, rules []rule) []string {
	var out []string
	pkgs := make([]string, 0, len(g))
	for pkg := range g {
		pkgs = append(pkgs, pkg)
	}
	slices.Sort(pkgs)
	for _, r := range rules {
		for _, pkg := range pkgs {
			if !r.scope(pkg) {
				continue
			}
			for _, hit := range reach(g, pkg, r) {
				out = append(out, r.name+": "+hit)
			}
		}
	}
	return out
}

// reach walks the imports of pkg (and, for a transitive rule, those of the module's packages it
// imports) and returns each forbidden import with the chain that leads to it.
func reach(g graph, pkg string, r rule) []string {
	var hits []string
	seen := map[string]bool{pkg: true}
	var walk func(from string, chain []string)
	walk = func(from string, chain []string) {
		for _, imp := range g[from] {
			if r.forbidden(pkg, imp) {
				hits = append(hits, strings.Join(append(slices.Clone(chain), imp), " -> "))
				continue
			}
			if r.transitive && under(imp, module) && !seen[imp] {
				seen[imp] = true
				walk(imp, append(slices.Clone(chain), imp))
			}
		}
	}
	walk(pkg, []string{pkg})
	return hits
}

// scan reads the import clauses of the non-test Go files below root (the module's directory) and
// returns the module's import graph.
func scan(t *testing.T, root string) graph {
	t.Helper()
	g := graph{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := module
		if rel != "." {
			pkg += "/" + filepath.ToSlash(rel)
		}
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if !slices.Contains(g[pkg], imp) {
				g[pkg] = append(g[pkg], imp)
			}
		}
		if _, ok := g[pkg]; !ok {
			g[pkg] = nil
		}
		return nil
	})
	require.NoError(t, err)
	return g
}

// moduleRoot returns the directory of go.mod above the test's working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test")
		dir = parent
	}
}

// TestDependencyRules checks every rule against the module's packages as they are on disk.
func TestDependencyRules(t *testing.T) {
	g := scan(t, moduleRoot(t))
	require.Contains(t, g[internal("platform/redisdb")], "github.com/redis/go-redis/v9",
		"the scan misses imports that are there")
	for _, r := range rules {
		scoped := 0
		for pkg := range g {
			if r.scope(pkg) {
				scoped++
			}
		}
		require.Positive(t, scoped, "rule %q applies to no package: its scope is out of date", r.name)
	}
	require.Empty(t, violations(g, rules))
}

// TestDependencyRulesCanFail feeds each rule an import graph that breaks it, and one that keeps it.
func TestDependencyRulesCanFail(t *testing.T) {
	tests := []struct {
		name  string
		graph graph
		want  []string
	}{
		{
			name: "market imports an adapter",
			graph: graph{
				internal("market"):             {"fmt", internal("market/sellhistory"), internal("pricestore")},
				internal("market/sellhistory"): {"math"},
			},
			want: []string{rules[0].name + ": " + internal("market") + " -> " + internal("pricestore")},
		},
		{
			name: "market subpackage imports the platform",
			graph: graph{
				internal("market/sellhistory"): {internal("platform/clock")},
			},
			want: []string{rules[0].name + ": " + internal("market/sellhistory") + " -> " + internal("platform/clock")},
		},
		{
			name: "offers imports prometheus",
			graph: graph{
				internal("bot/offers"): {"context", "github.com/prometheus/client_golang/prometheus/promauto"},
			},
			want: []string{rules[1].name + ": " + internal("bot/offers") + " -> github.com/prometheus/client_golang/prometheus/promauto"},
		},
		{
			name: "offers reaches go-redis through another package of the module",
			graph: graph{
				internal("bot/offers"):   {internal("market"), internal("pricestore")},
				internal("market"):       {"time"},
				internal("pricestore"):   {internal("market"), "github.com/redis/go-redis/v9"},
				internal("bot/telegram"): {"github.com/prometheus/client_golang/prometheus"},
			},
			want: []string{rules[1].name + ": " + internal("bot/offers") + " -> " + internal("pricestore") +
				" -> github.com/redis/go-redis/v9"},
		},
		{
			name: "platform imports the domain and a binary's package",
			graph: graph{
				internal("platform/middleware"): {internal("message"), internal("market")},
				internal("platform/ops"):        {internal("bot/telegram")},
			},
			want: []string{
				rules[2].name + ": " + internal("platform/middleware") + " -> " + internal("market"),
				rules[2].name + ": " + internal("platform/ops") + " -> " + internal("bot/telegram"),
			},
		},
		{
			name: "the worker imports the bot's package",
			graph: graph{
				internal("worker"):          {internal("worker/validate"), internal("pricestore")},
				internal("worker/validate"): {internal("bot/offers")},
				internal("parser/crawler"):  {internal("parser/proxy"), internal("dmarket")},
			},
			want: []string{rules[3].name + ": " + internal("worker/validate") + " -> " + internal("bot/offers")},
		},
		{
			name: "shared adapters import a binary's package",
			graph: graph{
				internal("pricestore"):    {internal("market"), internal("bot/offers"), internal("worker/validate")},
				internal("salesschedule"): {internal("parser/crawler")},
				internal("message"):       {internal("worker")},
			},
			want: []string{
				rules[4].name + ": " + internal("message") + " -> " + internal("worker"),
				rules[4].name + ": " + internal("pricestore") + " -> " + internal("bot/offers"),
				rules[4].name + ": " + internal("salesschedule") + " -> " + internal("parser/crawler"),
			},
		},
		{
			name: "every rule kept",
			graph: graph{
				internal("market"):                    {"time", internal("market/sellhistory")},
				internal("market/sellhistory"):        nil,
				internal("platform/rabbitmq"):         {internal("message"), internal("platform/health")},
				internal("pricestore"):                {internal("market"), "github.com/redis/go-redis/v9"},
				internal("platform/marketlike"):       {internal("marketing")},
				internal("bot/offers"):                {internal("market"), internal("platform/clock"), "golang.org/x/sync/singleflight"},
				internal("platform/clock"):            {"time"},
				internal("bot"):                       {internal("bot/offers"), internal("bot/telegram"), internal("pricestore")},
				internal("botany"):                    {"time"},
				internal("parser/crawler"):            {internal("botany"), internal("pricestore")},
				internal("pricestore/pricestoretest"): {internal("worker"), internal("worker/validate")},
				internal("fetchgate"):                 {internal("market"), internal("workers")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, violations(tt.graph, rules))
		})
	}
}
