"""The project's own error types: mistakes a user can fix, each message naming what to change.

Every type derives from :class:`FreqFusionEduError` *and* from the built-in type code outside the
project already catches (``ValueError``, ``FileNotFoundError``, ``ImportError``...), so an existing
``except ValueError`` keeps working. The command line turns exactly these into one ``error:``
line; anything else (a shape bug, a failing kernel) is a bug and keeps its traceback.

Example:
    >>> from freqfusion_edu.errors import ConfigError, FreqFusionEduError
    >>> issubclass(ConfigError, FreqFusionEduError) and issubclass(ConfigError, ValueError)
    True
"""
from __future__ import annotations

__all__ = ["FreqFusionEduError", "ConfigError", "DataRootError", "DataError", "CheckpointError",
           "CheckpointNotFoundError", "RunExistsError", "MissingDependencyError",
           "WeightsUnavailableError", "ArenaError", "OfficialCheckpointError", "RunLogError"]


class FreqFusionEduError(Exception):
    """Base of the errors a user can fix; the message says which input and what would be valid."""


class ConfigError(FreqFusionEduError, ValueError):
    """A config file or override is wrong; the message says which key and what would be valid."""


class DataRootError(FreqFusionEduError, FileNotFoundError):
    """A data folder is missing or does not have the expected layout; the message names it and
    the fix."""


class DataError(FreqFusionEduError, ValueError):
    """A data file holds something the loader cannot use (wrong rank, labels out of range); the
    message names the file."""


class CheckpointError(FreqFusionEduError, ValueError):
    """A checkpoint does not fit the run (another format, model, batch size, seed...); the message
    names the file and the key that differs."""


class CheckpointNotFoundError(FreqFusionEduError, FileNotFoundError):
    """No checkpoint at the given path."""


class RunExistsError(FreqFusionEduError, FileExistsError):
    """A new run would overwrite the files of an earlier run in the same folder."""


class MissingDependencyError(FreqFusionEduError, ImportError):
    """An optional package is not installed; the message says how to install it."""


class WeightsUnavailableError(FreqFusionEduError, RuntimeError):
    """Pretrained weights could not be loaded (no internet, wrong name); the message says how to
    get them onto this machine."""


class ArenaError(FreqFusionEduError, ValueError):
    """A mistake in an arena request a user can fix (an unknown method, a result file written with
    other settings); the command line prints it as one ``error:`` line."""


class OfficialCheckpointError(CheckpointError):
    """An official FreqFusion checkpoint cannot be read as asked: no FreqFusion module under the
    given prefix, or a module whose tensors do not fit the flags passed; the message names the
    prefix and the flag (``freqfusion_edu.official.load_official``)."""


class RunLogError(FreqFusionEduError, ValueError):
    """A run folder cannot be read, plotted or compared as asked (no logs, an unfinished run,
    runs whose configs differ in more than the compared setting); the message names the folder
    and the keys (``freqfusion-edu plot`` / ``compare``)."""
