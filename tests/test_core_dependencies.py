"""The core works without the book's packages (issue 12, item 22).

matplotlib and ipywidgets are the ``[book]`` extra: only ``freqfusion_edu.viz`` and
``freqfusion_edu.widgets`` import them. Here every other module is imported, and the command line
makes a sample, checks it, trains and evaluates, in a fresh interpreter where importing either
package fails, as in a venv without them.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import importlib, pkgutil, sys

    class Block:  # as if matplotlib and ipywidgets were not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("matplotlib", "ipywidgets"):
                raise ImportError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, Block())
    import freqfusion_edu
    core = sorted(m.name for m in pkgutil.walk_packages(freqfusion_edu.__path__, "freqfusion_edu.")
                  if not m.name.startswith(("freqfusion_edu.viz", "freqfusion_edu.widgets"))
                  and m.name != "freqfusion_edu.__main__")
    for name in core:
        importlib.import_module(name)
    assert len(core) > 20, core
    assert {"freqfusion_edu.cli", "freqfusion_edu.engine.train", "freqfusion_edu.checks"} <= set(core)

    from freqfusion_edu.cli import main
    out, data = sys.argv[1], sys.argv[1] + "/sample"
    assert main(["make-sample", data, "--train", "2", "--val", "1", "--size", "32", "64"]) == 0
    assert main(["verify-data", data]) == 0
    common = ["--set", f"data.root={data}", f"train.out_dir={out}/run", "train.max_iters=1",
              "train.checkpoint_every=0", "train.progress=false", "data.crop_size=[32,64]",
              "data.scale_range=[1,1]", "data.batch_size=1", "eval.mode=whole", "eval.scale=1",
              "eval.max_images=1", "train.device=cpu"]
    assert main(["train", "configs/cityscapes_smoke.yaml", *common]) == 0
    assert main(["evaluate", "configs/cityscapes_smoke.yaml", "--checkpoint", f"{out}/run/last.pt",
                 *common]) == 0
    print("NOT LOADED:", sorted(m for m in ("matplotlib", "ipywidgets") if m not in sys.modules))
""")


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_core_and_cli_run_without_matplotlib_and_ipywidgets(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1",
                               "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "NOT LOADED: ['ipywidgets', 'matplotlib']" in done.stdout
    assert "mIoU" in done.stdout                      # evaluate printed its table


def test_matplotlib_is_a_book_dependency_not_a_core_one():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = lambda reqs: {r.split(">")[0].split("=")[0].split(";")[0].strip() for r in reqs}
    assert "matplotlib" not in names(meta["dependencies"])
    assert {"matplotlib", "ipywidgets"} <= names(meta["optional-dependencies"]["book"])
