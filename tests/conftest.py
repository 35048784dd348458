"""Session-wide test setup.

Triton's interpreter: on a machine without CUDA, ``TRITON_INTERPRET=1`` makes ``@triton.jit``
kernels run on CPU tensors (through numpy), so CARAFE's Triton backend is tested on every machine
(``tests/functional/test_carafe_triton.py``). Triton reads the variable when a kernel is
jitted, i.e. at the first launch of ``freqfusion_edu.functional._carafe_triton``'s kernels;
this file is the first one pytest loads under ``tests/``, so it is set before that. With
CUDA, the kernels are tested on the GPU instead. Nothing else reads the variable: the default
backend on CPU tensors stays the banded loop.
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


# Markers, so a contributor runs what fits the change (CONTRIBUTING.md, "Which tests to run"):
# `make test-core` deselects every marked test; `make test` runs them all.
MARKERS = {
    "retrain": "re-trains a row of a stored result (results/*.json) and compares (seconds to a minute)",
    "slow": "takes more than a few seconds for another reason (compile, export, long loops)",
    "book": "executes chapters (broken-copy tests of check cells, the static site)",
    "classroom": "runs nbgrader on the classroom assignments",
    "browser": "drives JupyterLab in headless Chromium",
}
# Whole files or folders whose every test carries a marker.
_MARKED_PATHS = {"book/": "book", "browser/": "browser", "test_build_html.py": "book",
                 "test_classroom.py": "classroom"}


def pytest_configure(config):
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")


def pytest_collection_modifyitems(config, items):
    tests_dir = os.path.dirname(__file__)
    for item in items:
        rel = os.path.relpath(str(item.path), tests_dir).replace(os.sep, "/")
        for prefix, marker in _MARKED_PATHS.items():
            if rel.startswith(prefix):
                item.add_marker(getattr(pytest.mark, marker))


def _load_retrain_drift():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "retrain_drift.py"
    spec = importlib.util.spec_from_file_location("retrain_drift", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def retrain_drift():
    """``scripts/retrain_drift.py`` as a module: the rows the re-training tests train
    (``retrain``), their tolerances (``TOLERANCE``, ``assert_reproduces``) and the measurement
    they come from."""
    return _load_retrain_drift()
