# Build, test and run the DMarket price monitor. `make help` lists the targets.
GO        ?= go
BIN       ?= bin
PKGS      ?= ./...
TEST_FLAGS ?= -count=1 -timeout 12m

.PHONY: help build test lint cover bench run demo docker compose-check

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

test: ## run every test, including integration tests against local Redis and RabbitMQ
	$(GO) test $(TEST_FLAGS) $(PKGS)
