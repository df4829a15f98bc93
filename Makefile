# ironlb: make test runs every test; make demo starts the lab with ironlb in it.
SHELL := /usr/bin/env bash
BIN := $(CURDIR)/bin
GOLANGCI_LINT_VERSION := v2.15.0
CONTROLLER_GEN := go tool controller-gen
CRD_DIRS := config/crd/bases charts/ironlb/crds

# The lab's etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy and kubectl, built from Go modules (e2e/tools).
export KUBEBUILDER_ASSETS := $(BIN)
export PATH := $(BIN):$(PATH)

.PHONY: all build generate check-generated packages lab-tools tools images lint test unit bench demo demo-down clean

all: build

build:
	go build -o $(BIN)/ironlb-controller ./controller
	go build -o $(BIN)/ironlb-speaker ./speaker
	go build -o $(BIN)/kubectl-ironlb ./kubectl-ironlb

## generate: deepcopy functions and CRDs from the API types, and the plain manifests in
## config/rbac and config/manifests from the Helm chart.
generate: tools
	$(CONTROLLER_GEN) object paths=./api/...
	@for d in $(CRD_DIRS); do rm -f $$d/ironlb.io_*.yaml; $(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=$$d; done
	e2e/tools/release/render-config.sh $(BIN)/helm config

## check-generated: regenerates into a scratch folder and fails when the committed
## deepcopy functions, CRDs or chart-rendered manifests differ, so a change to api/ or the
## chart without make generate is caught.
check-generated: tools
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; status=0; \
	$(CONTROLLER_GEN) object paths=./api/... output:object:stdout > "$$tmp/deepcopy.go"; \
	diff -u api/v1beta1/zz_generated.deepcopy.go "$$tmp/deepcopy.go" || { echo "deepcopy is stale: run make generate" >&2; status=1; }; \
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config="$$tmp/crd"; \
	for d in $(CRD_DIRS); do diff -ru "$$d" "$$tmp/crd" || { echo "$$d is stale: run make generate" >&2; status=1; }; done; \
	e2e/tools/release/render-config.sh $(BIN)/helm "$$tmp/config"; \
	for f in $$(cd "$$tmp/config" && find . -name '*.yaml'); do \
		diff -u "config/$$f" "$$tmp/config/$$f" || { echo "config/$$f is stale: run make generate" >&2; status=1; }; done; \
	exit $$status

## packages: the Debian packages the lab needs (containerd, runc, CNI plugins, FRR,
## iproute2, nftables, ...), installed without asking when one is missing (root).
packages:
	@e2e/tools/install-packages.sh

lab-tools:
	@e2e/tools/build.sh $(BIN)

## tools: Helm and ironlb-image (the image builder), built from Go modules (e2e/tools/release).
tools:
	@e2e/tools/release/build.sh $(BIN)

## images: OCI image tarballs of both binaries in bin/images/, without a container daemon:
## static binaries on an empty base, user 65532, tagged with the chart's appVersion.
IMAGE_VERSION = $(shell awk '$$1=="appVersion:"{gsub(/"/,"",$$2); print $$2}' charts/ironlb/Chart.yaml)
IMAGE_REGISTRY ?= localhost/ironlb
images: tools
	@mkdir -p $(BIN)/images
	@for c in controller speaker; do \
		CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o $(BIN)/images/ironlb-$$c ./$$c && \
		$(BIN)/ironlb-image build -binary $(BIN)/images/ironlb-$$c -ref $(IMAGE_REGISTRY)/ironlb-$$c:$(IMAGE_VERSION) \
			-o $(BIN)/images/ironlb-$$c.tar && echo "$(BIN)/images/ironlb-$$c.tar: $(IMAGE_REGISTRY)/ironlb-$$c:$(IMAGE_VERSION)" || exit 1; \
	done

$(BIN)/golangci-lint:
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(BIN)/golangci-lint
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(BIN)/golangci-lint run ./...

## test: every test: unit, integration on a real API server, end-to-end in the lab.
test: packages check-generated lab-tools tools build images
	go test -count=1 -timeout 75m ./...

## unit: only the tests that need neither the API server nor the lab.
unit:
	go test -count=1 -short ./...

## bench: the allocator's cost at 1%, 50% and 99% full (a /16) and from an IPv6 /64, a soak of
## the model checker (10,000 operations against the real API server, about 45 minutes), then
## 3000 Services against the real API server next to its write ceiling, then in the lab (root)
## layer-2 failover and BGP (route convergence, 3000 Services advertised, node loss with BFD,
## speaker footprint) (JSON in e2e/results/).
bench: packages lab-tools build
	go test -run '^$$' -bench . -benchmem ./controller/allocator/
	IRONLB_CHECKER_OPS=10000 go test -count=1 -v -timeout 120m -run TestModelChecker ./controller/app/
	IRONLB_CHAOS_OPS=100 go test -count=1 -v -timeout 60m -run TestChaos ./e2e/
	IRONLB_BENCH=1 go test -count=1 -v -timeout 60m ./e2e/bench/

## demo: a 3-node cluster in network namespaces (needs root: kubelet, containerd and
## kube-proxy on every node), ironlb installed into it with Helm from charts/ironlb, pools,
## and a LoadBalancer Service reached through its EXTERNAL-IP. It stays up until make demo-down.
demo: packages lab-tools tools images
	go run ./e2e/cmd/lab up --demo

## demo-down: removes the lab: namespaces, links, processes, FRR files.
demo-down:
	go run ./e2e/cmd/lab down

clean:
	rm -rf $(BIN)
