import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("build_html", ROOT / "scripts" / "build_html.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_index_renders_with_figure_and_html_links(tmp_path):
    mod = _load()
    mod.build([ROOT / "book" / "00_index.ipynb"], tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert "FreqFusion, step by step" in html
    assert "data:image/png;base64," in html            # the executed figure is embedded
    assert 'href="01_frequency_basics.html"' in html    # chapter links point at the site
    assert 'href="01_frequency_basics.ipynb"' not in html
    assert "all checks passed" in html                  # outputs were executed, not just copied


def test_unknown_chapter_is_named(capsys):
    assert _load().main(["--only", "99_nope", "--out", "/tmp/unused"]) == 2
    assert "99_nope" in capsys.readouterr().err
