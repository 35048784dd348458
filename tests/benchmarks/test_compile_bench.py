"""results/compile_bench.json (made by benchmarks/compile_bench.py) and the READMEs that quote it.

No time is asserted: the stored numbers are checked for provenance and for internal consistency
(each speed-up is the ratio of the stored medians, each median that of the stored samples), and
the two READMEs must quote exactly these numbers, so a re-run that changes them fails here until
the text follows.
"""
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "results" / "compile_bench.json"
MODES = ("forward", "forward+backward")


def _bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the script imports _common from there
    try:
        spec = importlib.util.spec_from_file_location("compile_bench",
                                                      ROOT / "benchmarks" / "compile_bench.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def stored():
    return json.loads(RESULT.read_text())


@pytest.fixture(scope="module")
def bench():
    return _bench()


def _compile_paragraph():
    text = (ROOT / "README.md").read_text()
    start = text.index("**torch.compile**")
    return text[start:text.index("\n\n", start)]


def test_provenance(stored):
    for key in ("command", "commit", "date", "machine", "torch", "threads", "seconds", "timer",
                "repeats", "case", "load_average", "inductor_cache", "rows"):
        assert stored.get(key) not in (None, "", []), key
    assert stored["command"].startswith("benchmarks/compile_bench.py")
    assert "--out results/compile_bench.json" in stored["command"]
    assert re.fullmatch(r"[0-9a-f]{7,40}", stored["commit"])
    assert stored["quick"] is False and stored["inductor_cache"] == "cold"
    assert stored["torch"] in stored["machine"]
    assert str(ROOT) not in json.dumps(stored)  # no path of the checkout it ran in


def test_every_flag_set_was_compiled_correctly(stored, bench):
    rows = {(r["flags"], r["threads"]): r for r in stored["rows"]}
    assert {f for f, _ in rows} == set(bench.FLAG_SETS)
    for r in stored["rows"]:
        assert r["outputs_equal"] is True
        assert r["kwargs"] == bench.FLAG_SETS[r["flags"]]
        for mode in MODES:
            assert 0 <= r["max_rel_error"][mode] < stored["tolerance"] <= 1e-4
            assert r["compile_s"][mode] > 0 and r["compile_cpu_s"][mode] > 0
            assert r["graphs"][mode] >= 1
            share = r["eager_share"][mode]
            assert 0 < share["carafe"] < 1 and 0 < share["convolution"] < 1
            assert share["carafe"] + share["convolution"] < 1
    # the resampling runs eagerly between graphs: more than the one graph of the default flags
    graphs = {f: r["graphs"]["forward"] for (f, t), r in rows.items() if t == 1}
    assert graphs["feature_resample"] > graphs["default"]


def test_speedups_are_the_ratios_of_the_stored_medians(stored):
    for r in stored["rows"]:
        assert r["timer"] == ("cpu" if r["threads"] == 1 else "wall")
        for mode in MODES:
            med = r["median_s"][mode]
            for impl in ("eager", "compiled"):
                samples = r["times_s"][mode][impl]
                assert len(samples) == stored["repeats"]
                assert med[impl] == pytest.approx(statistics.median(samples))
            assert r["speedup"][mode] == pytest.approx(med["eager"] / med["compiled"])
            paired = [e / c for e, c in zip(r["times_s"][mode]["eager"],
                                            r["times_s"][mode]["compiled"])]
            q = statistics.quantiles(paired, n=4)
            assert r["speedup_per_repeat_quartiles"][mode] == pytest.approx([q[0], q[2]])


def test_benchmarks_readme_holds_the_stored_table(stored, bench):
    from freqfusion_edu.profiling import format_table

    text = (ROOT / "benchmarks" / "README.md").read_text()
    assert "python benchmarks/compile_bench.py --out results/compile_bench.json" in text
    assert format_table(bench.table_rows(stored)) in text, (
        "benchmarks/README.md must hold the table printed from results/compile_bench.json:\n"
        + format_table(bench.table_rows(stored)))
    assert f"`{stored['commit']}`" in text


def test_readme_compile_paragraph_quotes_the_stored_numbers(stored):
    para = _compile_paragraph()
    assert "benchmarks/compile_bench.py" in para and "results/compile_bench.json" in para
    for r in stored["rows"]:
        if r["threads"] != 1:
            continue
        for mode in MODES:
            assert f"{r['speedup'][mode]:.2f}x" in para, (r["flags"], mode)
            assert f"{r['compile_s'][mode]:.0f} s" in para, (r["flags"], mode)


def test_both_readmes_quote_the_share_compile_cannot_touch(stored):
    shares = [100 * sum(r["eager_share"]["forward+backward"].values()) for r in stored["rows"]]
    quoted = f"{min(shares):.0f}-{max(shares):.0f}%"
    assert quoted in _compile_paragraph()
    assert quoted in (ROOT / "benchmarks" / "README.md").read_text()


@pytest.mark.slow  # compiles FreqFusion: a minute or more on 2 cores
def test_quick_mode_runs_and_writes_a_consistent_result(tmp_path):
    out = tmp_path / "compile.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compile_bench.py"), "--quick",
                        "--out", str(out)], capture_output=True, text=True, timeout=900,
                       cwd=ROOT, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert res["quick"] is True and [row["flags"] for row in res["rows"]] == ["default"]
    row = res["rows"][0]
    assert row["outputs_equal"] is True
    for mode in MODES:
        assert row["speedup"][mode] == pytest.approx(row["median_s"][mode]["eager"]
                                                     / row["median_s"][mode]["compiled"])
    assert "fwd+bwd speed-up" in r.stdout  # the table is printed too
