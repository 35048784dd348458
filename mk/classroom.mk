# The classroom (nbgrader course in classroom/): `make assignments` regenerates the student
# versions, `make test-classroom` proves every solution passes and every student version fails.
NBGRADER := $(abspath $(VENV)/bin/nbgrader)
CLASSROOM_ASSIGNMENTS := $(notdir $(wildcard classroom/source/*))

.PHONY: assignments test-classroom

# nbgrader finds `alembic` (beside it in the venv) through PATH when it creates its gradebook.
assignments: $(STAMP) ## generate classroom/release/ (student versions) from classroom/source/
	cd classroom && for a in $(CLASSROOM_ASSIGNMENTS); do \
		PATH="$(abspath $(VENV)/bin):$$PATH" $(NBGRADER) generate_assignment "$$a" --force || exit 1; \
	done

test-classroom: $(STAMP) ## nbgrader validate: sources pass, student versions fail, release/ up to date
	$(PY) classroom/ci.py
	$(PY) -m pytest -q tests -m classroom

test: test-classroom
