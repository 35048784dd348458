"""``data_samples/cityscapes_mini`` is what ``make-sample`` writes (issue 12, item 23).

The sample is stored (the chapters and the smoke config read it), so a change to the generator
would let it drift silently. Regenerating it with the command its README gives must give the same
files: the same names, the same decoded pixels for every PNG (the bytes could differ with another
zlib), the same polygons JSON.
"""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from freqfusion_edu.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data_samples" / "cityscapes_mini"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name != "README.md")


def test_make_sample_regenerates_the_stored_sample(tmp_path, capsys):
    readme = (SAMPLE / "README.md").read_text()
    assert "size=(256, 512), seed=0" in readme and '{"train": 8, "val": 4}' in readme
    out = tmp_path / "cityscapes_mini"
    assert main(["make-sample", str(out), "--train", "8", "--val", "4", "--size", "256", "512",
                 "--seed", "0"]) == 0
    stored, made = _files(SAMPLE), _files(out)
    assert made == stored and len(stored) == 12 * 6   # image + 5 ground-truth files per scene
    for rel in stored:
        a, b = SAMPLE / rel, out / rel
        if rel.endswith(".json"):
            assert json.loads(a.read_text()) == json.loads(b.read_text()), rel
        else:
            with Image.open(a) as ia, Image.open(b) as ib:
                assert ia.mode == ib.mode, rel
                assert np.array_equal(np.asarray(ia), np.asarray(ib)), rel
