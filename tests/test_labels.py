"""One ignore label for the whole package (issue 12.21): data, metrics, training and plots agree."""
import ast
import inspect
import re
from pathlib import Path

import freqfusion_edu
from freqfusion_edu._labels import IGNORE_INDEX
from freqfusion_edu.data import IGNORE_INDEX as DATA_IGNORE
from freqfusion_edu.metrics import ConfusionMatrix, boundary_band, confusion_matrix

PACKAGE = Path(freqfusion_edu.__file__).parent


def test_one_definition_and_every_default_uses_it():
    assert DATA_IGNORE is IGNORE_INDEX == 255
    assert inspect.signature(confusion_matrix).parameters["ignore_index"].default == IGNORE_INDEX
    assert inspect.signature(boundary_band).parameters["ignore_index"].default == IGNORE_INDEX
    assert ConfusionMatrix(3).ignore_index == IGNORE_INDEX
    definitions = re.compile(r"^\s*IGNORE_INDEX\s*=", re.M)
    offenders, defined_in = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args.args + node.args.kwonlyargs
                defaults = ([None] * (len(node.args.args) - len(node.args.defaults))
                            + node.args.defaults + node.args.kw_defaults)
                offenders += [f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"
                              for a, d in zip(args, defaults)
                              if a.arg == "ignore_index" and isinstance(d, ast.Constant)]
        if definitions.search(text):
            defined_in.append(str(path.relative_to(PACKAGE)))
    assert not offenders, f"ignore labels typed as numbers instead of IGNORE_INDEX: {offenders}"
    assert defined_in == ["_labels.py"], f"IGNORE_INDEX defined in {defined_in}"
