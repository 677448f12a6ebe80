"""One exception hierarchy for everything pytest-triton raises on purpose.

Every message is written for the person running pytest: it says what went wrong and what to do.
"""

from __future__ import annotations


class TritonTestError(Exception):
    """Base class of all pytest-triton errors."""


class ConfigError(TritonTestError):
    """Bad user input: an option, an ini value, a marker argument, a model config override."""


class ServerNotFoundError(TritonTestError):
    """No tritonserver binary (or image) could be found."""


class ServerStartError(TritonTestError):
    """The server did not become ready; carries the tail of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        if log_tail:
            message = f"{message}\n--- tritonserver log (tail) ---\n{log_tail}"
        super().__init__(message)


class ServerDiedError(ServerStartError):
    """A server we started exited while we were using it."""


class ModelLoadError(TritonTestError):
    """Triton refused (or never finished) loading a model; quotes Triton's own error."""


class MeasurementError(TritonTestError):
    """A measurement could not be taken (bad load spec, shapes that do not fit the model...)."""


class BaselineError(TritonTestError):
    """A baseline file is unreadable, corrupt, of a foreign schema, or cannot be written."""


class BaselineNewerSchemaError(BaselineError):
    """A baseline written by a newer pytest-triton: never replaced, not even when forced."""


class BaselineCollisionError(BaselineError):
    """Two tests map to one baseline file (or a file records another test: a rename)."""
