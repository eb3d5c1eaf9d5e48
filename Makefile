# Paved Road: every target bootstraps what it needs on first use and is
# idempotent afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint clean help bootstrap

help:
	@echo "make bootstrap   .venv with paved and copier (every target does it on first use)"
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

# Progress stays visible: a cold bootstrap downloads ~100 packages (about two
# minutes); pip prints one line per package instead of staying silent.
$(STAMP): pyproject.toml
	@echo "==> bootstrapping $(VENV): pinned Python packages (first run only, about 2 minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar off --upgrade pip==25.3
	$(BIN)/python -m pip install --progress-bar off -e '.[test,sim]'
	touch $@
	@echo "==> $(VENV) ready: $(BIN)/paved and $(BIN)/copier (or: . $(VENV)/bin/activate)"

bootstrap: $(STAMP)

demo: $(STAMP)
	$(BIN)/paved demo --workdir demo-output

# deploy, a circuit-breaker rollback and `paved rollback --previous`, against paved sim
.PHONY: demo-rollback
demo-rollback: $(STAMP)
	$(BIN)/paved demo --rollback

# a generated service's infra/ applied with real Terraform to paved sim, then its
# releases, deploys, a circuit-breaker rollback, rollback --previous and DORA
.PHONY: demo-platform
demo-platform: $(STAMP)
	$(BIN)/paved demo --platform

test: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .tools .cache build demo-output

# Build the generated Dockerfile with buildah (amd64), run it read-only as its
# user next to an OTLP sink, check hardening and the size budget, print the
# figures. Needs root, buildah and debootstrap (.ci/run installs them).
.PHONY: image-check
image-check: $(STAMP)
	$(BIN)/python -m pytest tests/image -q

# cookiecutter/ and backstage/template.yaml are generated from copier.yml and
# template/: regenerate them after any change there (tests fail when stale).
.PHONY: generated
generated: $(STAMP)
	$(BIN)/python scripts/render_local_collector.py
	$(BIN)/python cookiecutter/build.py
	$(BIN)/python backstage/build_template.py
	$(BIN)/python scripts/terraform_docs.py
	$(BIN)/python -m paved_road.fleet.preview_workflow -o .github/workflows/fleet-preview.yml
