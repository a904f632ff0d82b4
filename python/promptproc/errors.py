"""Exceptions that carry a message meant for the operator.

Everything promptproc raises on purpose derives from `PromptprocError`, so the
command line and the service drivers can tell a known failure (bad input, an
unreachable server) from a bug.
"""

__all__ = [
    "BadInputError",
    "ConfigurationError",
    "PromptprocError",
    "ServiceUnavailableError",
]


class PromptprocError(Exception):
    """A failure with a one-line explanation for the operator."""


class ConfigurationError(PromptprocError):
    """A setting, option or configuration file is invalid."""


class BadInputError(PromptprocError):
    """An input (event, notification, FITS file, catalog) is malformed."""


class ServiceUnavailableError(PromptprocError):
    """A database, object store or broker cannot be reached."""
