"""Chapter 07 quotes per-seed numbers of its diagnosis (``QUOTED`` in its opening cell) from
``results/ch07_diagnosis.md``; they must be the raw rows of ``results/ch07_diagnosis_runs.jsonl``
(variant ``base``, 300 iterations, seeds 0-2: bilinear, and FreqFusion at the head's rate), rounded
as printed."""
import ast
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _quoted() -> dict:
    nb = json.loads((REPO / "book" / "07_segmentation_toy.ipynb").read_text())
    for cell in nb["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if line.startswith("QUOTED = "):
                return ast.literal_eval(line[len("QUOTED = "):])
    raise AssertionError("chapter 07 has no QUOTED = {...} line")


def _raw(fusion: str, key: str) -> list[float]:
    rows = [json.loads(line) for line in (REPO / "results" / "ch07_diagnosis_runs.jsonl").read_text().splitlines()
            if line.strip()]
    rows = sorted((r for r in rows if r["variant"] == "base" and r["iters"] == 300 and r["fusion"] == fusion),
                  key=lambda r: r["seed"])
    assert [r["seed"] for r in rows] == [0, 1, 2], fusion
    return [round(r[key], 1) for r in rows]


def test_chapter_07_quotes_the_raw_diagnosis_rows():
    quoted = _quoted()
    for name, key in (("mIoU", "miou"), ("boundary IoU", "biou")):
        bilinear, freqfusion = quoted[name]
        assert bilinear == _raw("bilinear", key), name
        assert freqfusion == _raw("freqfusion", key), name


def test_the_diagnosis_report_prints_the_same_rows():
    text = (REPO / "results" / "ch07_diagnosis.md").read_text()
    ff_m, ff_b = _raw("freqfusion", "miou"), _raw("freqfusion", "biou")
    assert " / ".join(f"{v:.1f}" for v in ff_m) in text and " / ".join(f"{v:.1f}" for v in ff_b) in text
