# Paved Road: every target bootstraps what it needs on first use and is
# idempotent afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Three layers, each installed on first use: what `make demo` and the quick
# start need (paved, copier and their runtime dependencies), `paved sim`
# (moto) for the rollback and platform demos, and the test tools.
STAMP      := $(VENV)/.installed-runtime
SIM_STAMP  := $(VENV)/.installed-sim
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint clean help bootstrap bootstrap-test

help:
	@echo "make bootstrap   .venv with paved and copier, nothing else (every target does it on first use)"
	@echo "make bootstrap-test   .venv plus paved sim and the test tools (make test does it)"
	@echo "make demo   generate demo-service, run it next to an OTLP sink, show its spans"
	@echo "make demo-rollback   deploy, a circuit-breaker rollback, rollback --previous and an alarm rollback against paved sim"
	@echo "make demo-platform   real Terraform applies a generated service to paved sim, then deploys, a rollback, DORA"
	@echo "make test   the whole test suite (what CI runs)"

# checkov pins its own boto3 and cannot share the project's venv.
CHECKOV_STAMP := .tools/checkov/.installed-stamp
$(CHECKOV_STAMP):
	test -x .tools/checkov/bin/python || $(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/python -m pip install -q checkov==3.3.30
	touch $@

# Progress stays visible: pip prints one line per package instead of staying
# silent (a cold runtime bootstrap is about 30 packages, the test layer ~70 more).
$(STAMP): pyproject.toml
	@echo "==> bootstrapping $(VENV): paved and copier, pinned (first run only, about a minute)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar off --upgrade pip==25.3
	$(BIN)/python -m pip install --progress-bar off -e .
	touch $@
	@echo "==> $(VENV) ready: $(BIN)/paved and $(BIN)/copier (or: . $(VENV)/bin/activate)"

$(SIM_STAMP): $(STAMP)
	@echo "==> adding paved sim (moto) to $(VENV)"
	$(BIN)/python -m pip install --progress-bar off -e '.[sim]'
	touch $@

$(TEST_STAMP): $(SIM_STAMP)
	@echo "==> adding the test tools to $(VENV) (first run only, about two minutes)"
	$(BIN)/python -m pip install --progress-bar off -e '.[test,sim]'
	touch $@

bootstrap: $(STAMP)

bootstrap-test: $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/paved demo --workdir demo-output

# deploy, a circuit-breaker rollback and `paved rollback --previous`, against paved sim
.PHONY: demo-rollback
demo-rollback: $(SIM_STAMP)
	$(BIN)/paved demo --rollback

# a generated service's infra/ applied with real Terraform to paved sim, then its
# releases, deploys, a circuit-breaker rollback, rollback --previous and DORA
.PHONY: demo-platform
demo-platform: $(SIM_STAMP)
	$(BIN)/paved demo --platform

test: $(TEST_STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .tools .cache build demo-output

# Build the generated Dockerfile with buildah (amd64), run it read-only as its
# user next to an OTLP sink, check hardening and the size budget, print the
# figures. Needs root, buildah and debootstrap (.ci/run installs them).
.PHONY: image-check
image-check: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/image -q

# cookiecutter/ and backstage/template.yaml are generated from copier.yml and
# template/: regenerate them after any change there (tests fail when stale).
.PHONY: generated
generated: $(TEST_STAMP)
	$(BIN)/python scripts/render_local_collector.py
	$(BIN)/python cookiecutter/build.py
	$(BIN)/python backstage/build_template.py
	$(BIN)/python scripts/terraform_docs.py
	$(BIN)/python -m paved_road.fleet.preview.workflow -o .github/workflows/fleet-preview.yml
