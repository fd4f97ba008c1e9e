"""User-facing errors.

Everything the UI or a CLI should show verbatim derives from `IacdemoError`; anything else that escapes
is a bug. Messages say what went wrong and what to do about it.
"""


class IacdemoError(Exception):
    """An error whose message is meant for the user."""


class ModelError(IacdemoError):
    """A model id that is unknown, unreachable, corrupt or incompatible."""


class DataError(IacdemoError):
    """A missing, empty or malformed corpus, dataset or task file."""


class ConfigError(IacdemoError):
    """A setting or hyperparameter that is out of range or of the wrong type."""


class JobError(IacdemoError):
    """A training job that cannot be started, stopped or found."""
