"""Every chapter's references can be followed by a reader of this repository (issue 13 items 1-2).

Readers have the repository, the paper and the official code, nothing else. A chapter may not
point to our private notes (a "spec", ``shared/``, an absolute path of a machine such as ``/home/...``), nor send
students to the solutions (``classroom/source``, nbgrader solution markers). Its "Assignment"
line points students to the generated student version, ``classroom/release/<a>/<a>.ipynb``, and
teachers to ``classroom/README.md``; every repository path it names exists.
"""
import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))

# (pattern, why a reader cannot follow it)
FORBIDDEN = [
    (re.compile(r"\bspecs?\b", re.I), "refers to a 'spec' that is not in the repository: cite the "
     "paper (section/figure/equation/table), the official code (file, function) or a page of this "
     "repo such as docs/official_module.md"),
    (re.compile(r"shared/"), "points into shared/, which readers do not have"),
    (re.compile(r"(?<![\w.~])/(?:work|root|home|Users)/"), "names an absolute path of a machine"),
    (re.compile(r"classroom/source"), "points to the teacher's version, which holds the solutions: "
     "students get classroom/release/<a>/<a>.ipynb, teachers classroom/README.md"),
    (re.compile(r"BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS"), "nbgrader solution/hidden-test "
     "markers belong in classroom/source only"),
    (re.compile(r"\bsolutions?\s+(?:are|is|live|lives|in|at|to)\b", re.I),
     "points readers to solutions"),
]
# repository paths a chapter may name, checked for existence (not configs/: chapters also quote
# mmsegmentation's configs/... paths, which live in that repository)
REPO_PATH = re.compile(r"(?<![\w/.])(?:\.\./)?((?:docs|classroom|freqfusion_edu|benchmarks|scripts|"
                       r"results|data_samples|tests|book)/[\w./-]*[\w/])")


def _code_text(src: str) -> str:
    """The prose inside code: comments and string literals, without f-string fields (so a
    variable named ``spec`` is not a reference, but ``# see spec 2.7`` or ``"spec 2.7"`` is)."""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return "\n".join(m.group(0) for m in re.finditer(r"#.*", src))
    parts = []
    for tok in toks:
        if tok.type == tokenize.COMMENT:
            parts.append(tok.string)
        elif tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            parts.append(re.sub(r"\{[^{}]*\}", " ", tok.string))
    return "\n".join(parts)


def problems(nb) -> list[str]:
    """Every forbidden reference and every missing repository path in ``nb``'s cell sources.

    The "spec" rule reads markdown and, in code cells, only comments and strings (a variable may
    be called ``spec``); the path rules read all of a cell's source.
    """
    found = []
    for i, cell in enumerate(nb.cells):
        for pattern, why in FORBIDDEN:
            src = cell.source
            if pattern is FORBIDDEN[0][0] and cell.cell_type == "code":
                src = _code_text(src)
            for m in pattern.finditer(src):
                ctx = src[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")
                found.append(f"cell {i}: {m.group(0)!r} ({why}): ...{ctx}...")
        if cell.cell_type == "markdown":
            for m in REPO_PATH.finditer(src):
                path = m.group(1).rstrip(".")
                if "<" in path or "*" in path:
                    continue
                if not (ROOT / path).exists():
                    found.append(f"cell {i}: names {path!r}, which is not in the repository")
    return found


def assignment_problems(nb) -> list[str]:
    """The "Assignment(s):" line: student versions under classroom/release, and the guide."""
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    lines = [ln for ln in text.splitlines() if re.search(r"\*\*Assignments?:\*\*", ln)]
    if not lines:
        return []
    start = text.index(lines[0])
    para = text[start:].split("\n\n")[0]
    found = []
    releases = re.findall(r"classroom/release/([\w-]+)/([\w-]+)\.ipynb", para)
    if not releases:
        found.append("the Assignment line names no student version classroom/release/<a>/<a>.ipynb")
    for a, b in releases:
        if a != b or not (ROOT / "classroom" / "release" / a / f"{b}.ipynb").exists():
            found.append(f"classroom/release/{a}/{b}.ipynb does not exist")
    if "classroom/README.md" not in para:
        found.append("the Assignment line does not point teachers to classroom/README.md")
    return found


def test_there_are_chapters():
    assert len(CHAPTERS) >= 9, [p.name for p in CHAPTERS]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_references_can_be_followed(path):
    nb = nbformat.read(path, as_version=4)
    found = problems(nb) + assignment_problems(nb)
    assert not found, f"{path.name}:\n" + "\n".join(found)


def test_the_scanner_finds_what_it_must():
    """The scan itself can fail: a made-up chapter with every kind of bad reference."""
    bad = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("As spec 2.7 says; see `shared/spec`, section 5.4, and "
                                      "/home/alice/x. Spectra are fine."),
        nbformat.v4.new_markdown_cell("**Assignment:** `classroom/source/highpass/` "
                                      "(solutions are in the source folder); see docs/nope.md "
                                      "and [this page](../docs/gone.md)."),
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1"),
        nbformat.v4.new_code_cell("y = 2  # as in spec 1.3\nprint('see the spec')"),
    ])
    text = "\n".join(problems(bad))
    for needle in ("'spec'", "'shared/'", "'/home/'", "'classroom/source'", "'solutions are'",
                   "'BEGIN SOLUTION'", "'docs/nope.md'", "'docs/gone.md'"):
        assert needle in text, (needle, text)
    assert "'Spectra'" not in text
    assert text.count("cell 3: 'spec'") == 2, text      # a comment and a string in code
    assert len(assignment_problems(bad)) == 2

    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "Spectra, as in docs/official_module.md.\n\n**Assignment:** students open "
        "`classroom/release/highpass/highpass.ipynb`; teachers see `classroom/README.md`."),
        nbformat.v4.new_code_cell("for spec in specs:\n    print(f\"{spec.family:<11}\", spec)")])
    assert problems(good) == [] and assignment_problems(good) == []
