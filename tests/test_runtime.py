"""Run mode and sample paths: a user's mistake is one of the project's error types (issue 12, 9)."""
import pytest

from freqfusion_edu import runtime
from freqfusion_edu.errors import ConfigError, DataRootError


def test_mode(monkeypatch):
    monkeypatch.setenv("FREQFUSION_EDU_MODE", " Full ")
    assert runtime.get_mode() == "full" and runtime.pick(fast=1, full=2) == 2
    monkeypatch.setenv("FREQFUSION_EDU_MODE", "fastest")
    with pytest.raises(ConfigError, match="FREQFUSION_EDU_MODE.*'fastest'"):
        runtime.get_mode()


def test_sample_errors_name_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("FREQFUSION_EDU_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataRootError, match="nowhere"):
        runtime.data_samples_dir()
    (tmp_path / "a.png").touch()
    monkeypatch.setenv("FREQFUSION_EDU_DATA", str(tmp_path))
    assert runtime.sample_path("a.png") == tmp_path / "a.png"
    with pytest.raises(FileNotFoundError, match=r"'b.png'.*\['a.png'\]"):   # still a FileNotFoundError
        runtime.sample_path("b.png")
