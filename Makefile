# cxnet — make targets a new engineer needs. Nothing else to install by hand:
# Go fetches the pinned modules and tools (staticcheck is a go.mod tool).
GO      ?= go
BIN     := bin/cxnet
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/cxnet/cxnet/node.Version=$(VERSION)
# Execution counts, not durations: go1.26's fuzz coordinator can fail a
# duration-bounded run with a bare "context deadline exceeded" at the
# deadline (golang/go#75804, fixed in go1.27).
FUZZTIME ?= 20000x
FUZZMINIMIZE ?= 1000x

.PHONY: build test race check bench demo fuzz chartjs clean

# The dashboard's charting library (node/ui), vendored from npm at a pinned
# version whose tarball must match the registry's integrity hash.
CHARTJS_VERSION   ?= 4.6.1
CHARTJS_INTEGRITY ?= sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==
CHARTJS_DIR       := node/ui/static/vendor/chartjs

build: ## build bin/cxnet
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

test: ## run every test (unit, integration, end-to-end with real cxnet processes)
	$(GO) test -count=1 -timeout 30m ./...
	@echo "consortium end to end under GODEBUG=fips140=only (TLS 1.3 only, no Noise):"
	GODEBUG=fips140=only $(GO) test -count=1 -timeout 10m -run 'TestE2EConsortium|TestE2EImportAndPreview' .

race: ## the concurrent packages under the race detector
	$(GO) test -race -count=1 -timeout 20m ./node/... ./store/... ./protocol/... ./contracts/... ./privacy/...

check: ## gofmt, go vet, staticcheck, and the import rule of STYLE.md
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) test -count=1 -run 'TestImportRule' .

fuzz: ## short run of every fuzz target (FUZZTIME executions each)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg; \
	  done; done

bench: build ## benchmarks: Go micro-benchmarks; 4 real nodes' rounds and governance (BenchmarkE2E*); cxnet vs sqlite3 on 1M rows; consortia of 3 to 50 simulated nodes; writes BENCHMARKS.md
	$(GO) test -run '^$$' -bench . -skip 'E2E' -benchmem ./...
	$(GO) test -run '^$$' -bench 'E2E' -benchtime 10x -timeout 30m .
	bash simulations/bench/benchmarks.sh

demo: build ## the patient journey: hospitals, a pharma programme and pharmacies release four KPIs, checked against the pooled data
	$(BIN) demo

chartjs: ## refresh the vendored Chart.js: CHARTJS_VERSION from npm, checked against CHARTJS_INTEGRITY
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	curl -sSfL -o "$$tmp/chart.tgz" https://registry.npmjs.org/chart.js/-/chart.js-$(CHARTJS_VERSION).tgz; \
	got="sha512-$$(openssl dgst -sha512 -binary "$$tmp/chart.tgz" | openssl base64 -A)"; \
	if [ "$$got" != "$(CHARTJS_INTEGRITY)" ]; then \
	  echo "chart.js $(CHARTJS_VERSION): tarball integrity $$got, want $(CHARTJS_INTEGRITY);"; \
	  echo "for a new version, set CHARTJS_INTEGRITY to what \`npm view chart.js@$(CHARTJS_VERSION) dist.integrity\` says"; exit 1; fi; \
	tar -xzf "$$tmp/chart.tgz" -C "$$tmp" package/dist/chart.umd.min.js package/LICENSE.md; \
	cp "$$tmp/package/dist/chart.umd.min.js" "$$tmp/package/LICENSE.md" $(CHARTJS_DIR)/; \
	echo $(CHARTJS_VERSION) > $(CHARTJS_DIR)/VERSION; \
	echo "vendored Chart.js $(CHARTJS_VERSION) (MIT, LICENSE.md beside it) in $(CHARTJS_DIR)"

clean:
	rm -rf bin simulations/out
