# Build, test and run the DMarket price monitor. `make help` lists the targets.
GO            ?= go
BIN           ?= bin
PKGS          ?= ./...
TEST_FLAGS    ?= -count=1 -timeout 14m
# Linters are installed per clone into a git-ignored directory of the repository, at pinned module versions
# (`make tools`), so every clone exercises the install path and never depends on what ~/go/bin holds.
TOOLS_DIR     ?= $(CURDIR)/.tools/bin
STATICCHECK   ?= $(TOOLS_DIR)/staticcheck
GOLANGCI_LINT ?= $(TOOLS_DIR)/golangci-lint
BENCH         ?= .
IMAGE         ?= dmarket-monitor:local
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT        ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
BUILDINFO     := github.com/skinflip/dmarket-monitor/internal/platform/buildinfo
LDFLAGS       ?= -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(BUILD_DATE)
COMPOSE       ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: help services redis-cluster redis-cluster-stop build test lint cover bench run demo docker compose-check rules-test tools load e2e-metrics

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build every binary into bin/ (version, commit and build date stamped: bin/parser -version)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

services: ## install (apt, when missing) and start local Redis, a 3-master Redis Cluster (ports 7000-7002) and RabbitMQ for the tests
	bash scripts/services.sh

redis-cluster: ## start (or reuse) only the local 3-master Redis Cluster of the tests; prints its REDIS_URL
	bash scripts/redis-cluster.sh start

redis-cluster-stop: ## stop the local Redis Cluster
	bash scripts/redis-cluster.sh stop

test: services ## run every test, including integration tests against local Redis, the local Redis Cluster and RabbitMQ (started if down), and the alert-rule tests
	$(MAKE) --no-print-directory rules-test
	GO=$(GO) bash scripts/test.sh $(TEST_FLAGS)

# Module versions (staticcheck's release 2026.2.2 is module version v0.8.2).
STATICCHECK_VERSION   ?= v0.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0

# A stamp per tool and version: changing a version reinstalls that tool.
$(TOOLS_DIR)/.staticcheck-$(STATICCHECK_VERSION):
	@mkdir -p $(TOOLS_DIR)
	GOFLAGS= GOBIN=$(TOOLS_DIR) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

$(TOOLS_DIR)/.golangci-lint-$(GOLANGCI_LINT_VERSION):
	@mkdir -p $(TOOLS_DIR)
	GOFLAGS= GOBIN=$(TOOLS_DIR) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	@touch $@

tools: $(TOOLS_DIR)/.staticcheck-$(STATICCHECK_VERSION) $(TOOLS_DIR)/.golangci-lint-$(GOLANGCI_LINT_VERSION) ## install the pinned linters into .tools/bin (per clone)

lint: tools ## gofmt, go vet, staticcheck and golangci-lint (.golangci.yml), pinned linters installed first
	@out="$$(gofmt -l cmd internal)"; if [ -n "$$out" ]; then echo "gofmt -w needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	$(GOLANGCI_LINT) config verify
	$(GOLANGCI_LINT) run $(PKGS)

cover: ## run every test with coverage: coverage.out, coverage.html and the total
	$(GO) test $(TEST_FLAGS) -covermode=atomic -coverprofile=coverage.out $(PKGS)
	$(GO) tool cover -html=coverage.out -o coverage.html
	@$(GO) tool cover -func=coverage.out | tail -n 1

bench: ## throughput table of docs/performance.md (2-6 min; BENCH=regexp runs those benchmarks of every package instead)
ifeq ($(strip $(BENCH)),.)
	GO=$(GO) scripts/bench.sh
else
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count=1 $(PKGS)
endif

# Fuzzing: every `func Fuzz...` in a _test.go file runs on its own, one after the other, for FUZZTIME
# (FUZZTIME_<target>=... overrides it for one target). Inputs that find new coverage, and failures, are
# minimised for at most FUZZMINIMIZETIME (100 runs) so the time goes into fuzzing; to shrink a failure
# found, run its target again with FUZZMINIMIZETIME=60s. FUZZ=regexp selects targets.
# 60 s per target make at least 100,000 execs each even while other test suites load the machine (30 s
# did not always).
FUZZTIME         ?= 60s
# Each input of this target is zstd-compressed before it is decoded: about half the rate of the others.
export FUZZTIME_FuzzDecodeMessageListings ?= 90s
FUZZMINIMIZETIME ?= 100x
FUZZ             ?= .
.PHONY: fuzz
fuzz: SHELL := /bin/bash
fuzz: ## run every fuzz target for FUZZTIME each, one at a time, and print the execs of each
	@set -eo pipefail; summary=$$(mktemp); trap 'rm -f "$$summary"' EXIT; \
	for f in $$(grep -l --include='*_test.go' -r '^func Fuzz' cmd internal | sort); do \
	  for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
	    echo "$$target" | grep -Eq -- '$(FUZZ)' || continue; \
	    ft=$$(printenv "FUZZTIME_$$target" || echo '$(FUZZTIME)'); \
	    echo "== $$target ($$(dirname "$$f"), $$ft)"; \
	    out=$$(mktemp); \
	    if ! $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime "$$ft" -fuzzminimizetime '$(FUZZMINIMIZETIME)' \
	        "./$$(dirname "$$f")" 2>&1 | tee "$$out"; then \
	      rm -f "$$out"; echo "FAIL $$target"; exit 1; \
	    fi; \
	    execs=$$(grep -o 'execs: [0-9]*' "$$out" | tail -n 1 | cut -d' ' -f2); rm -f "$$out"; \
	    printf '%-30s %-22s %-6s %s\n' "$$target" "$$(dirname "$$f")" "$$ft" "$${execs:-?} execs" >>"$$summary"; \
	  done; \
	done; \
	echo; echo "target                         package                time   execs"; cat "$$summary"

run: SHELL := /bin/bash
run: build ## run parser, worker and bot against local Redis and RabbitMQ with the *.dev.env files (Ctrl-C stops them)
	@pids=(); trap 'kill "$${pids[@]}" 2>/dev/null; wait' INT TERM EXIT; \
	for b in parser worker bot; do $(BIN)/$$b -env-file $$b.dev.env & pids+=($$!); done; \
	wait

demo: build ## run the pipeline against the built-in DMarket simulator and print the offers it finds
	bash scripts/demo.sh

docker: ## build the Docker image (IMAGE=name:tag)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE) -t $(IMAGE) .

compose-check: ## validate docker-compose.yml with prod.env (placeholders), check that the stack refuses them, and the Prometheus and Alertmanager configuration
	$(COMPOSE) --env-file prod.env -f docker-compose.yml config -q
	@if env -i sh -c 'set -a; . ./prod.env; sh deploy/preflight.sh' >/dev/null 2>&1; then \
	  echo "compose-check: deploy/preflight.sh accepted the placeholders of prod.env" >&2; exit 1; \
	else echo "prod.env placeholders are refused by the preflight service (as they should be)"; fi
	@if command -v promtool >/dev/null 2>&1; then promtool check config deploy/prometheus/prometheus.yml; \
	else echo "promtool not installed: Prometheus configuration not checked"; fi
	@if command -v amtool >/dev/null 2>&1; then d=$$(mktemp -d) && \
	  ALERTMANAGER_OUT=$$d ALERTMANAGER_TEMPLATE=deploy/alertmanager/alertmanager.yml.in ALERTMANAGER_RENDER_ONLY=1 \
	  ALERT_TELEGRAM_BOT_TOKEN=123456:example ALERT_TELEGRAM_CHAT_ID=-100123 sh deploy/alertmanager/start.sh >/dev/null && \
	  amtool check-config $$d/alertmanager.yml; rc=$$?; rm -rf $$d; exit $$rc; \
	else echo "amtool not installed (Debian: prometheus-alertmanager): Alertmanager configuration not checked"; fi

rules-test: ## check the Prometheus alert rules (promtool check rules) and run their unit tests (promtool test rules)
	@command -v promtool >/dev/null 2>&1 || { echo "rules-test: promtool missing (Debian: apt-get install -y prometheus)" >&2; exit 1; }
	promtool check rules deploy/prometheus/*rules*.yml
	promtool test rules deploy/prometheus/*test*.yml

load: build ## load run: 1 parser and 4 workers over ~200,000 simulator listings; throughput and p99 fetch→Redis
	$(GO) test -tags load -count=1 -run TestLoad -v -timeout 20m ./internal/e2e

e2e-metrics: build ## promtool check metrics on /metrics of parser, worker and bot after a real crawl (local Redis, RabbitMQ, promtool)
	BIN=$(BIN) bash scripts/e2e-metrics.sh
