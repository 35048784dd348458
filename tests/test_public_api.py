"""One public API: backend controls exported, no submodule shadowed by a function, the old
module path of CARAFE still importable, project errors in errors.py."""
import importlib
import pkgutil
import types

import pytest

import freqfusion_edu
import freqfusion_edu.functional as functional


@pytest.mark.parametrize("name", ["set_backend", "get_backend", "use_backend", "resolve_backend"])
def test_backend_controls_are_exported_from_the_package_and_functional(name):
    reassembly = importlib.import_module("freqfusion_edu.functional.reassembly")
    assert getattr(freqfusion_edu, name) is getattr(reassembly, name)
    assert getattr(functional, name) is getattr(reassembly, name)
    assert name in freqfusion_edu.__all__ and name in functional.__all__


@pytest.mark.parametrize("package", ["freqfusion_edu", "freqfusion_edu.functional",
                                     "freqfusion_edu.nn", "freqfusion_edu.models",
                                     "freqfusion_edu.arena"])
def test_no_submodule_is_shadowed_by_a_function(package):
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):  # private modules (and __main__, which runs the CLI)
            continue
        importlib.import_module(f"{package}.{info.name}")
        assert isinstance(getattr(pkg, info.name), types.ModuleType), f"{package}.{info.name}"


def test_carafe_is_the_function_and_its_old_module_path_still_imports():
    from freqfusion_edu.functional.carafe import carafe, get_backend  # the pre-rename path
    assert callable(functional.carafe) and not isinstance(functional.carafe, types.ModuleType)
    assert carafe is functional.carafe is freqfusion_edu.carafe
    assert get_backend is functional.get_backend


def test_arena_error_lives_in_errors_and_is_importable_from_arena_methods():
    from freqfusion_edu.arena.methods import ArenaError
    from freqfusion_edu.errors import ArenaError as FromErrors, FreqFusionEduError
    assert ArenaError is FromErrors and issubclass(ArenaError, (FreqFusionEduError, ValueError))
