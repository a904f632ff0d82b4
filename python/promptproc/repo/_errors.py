"""Errors of the repository layer, each a `~promptproc.errors.PromptprocError`."""

from __future__ import annotations

from lsst.daf.butler import FileIntegrityError

from ..errors import BadInputError, ConfigurationError

__all__ = ["CorruptDatasetError", "RepoExistsError"]


class RepoExistsError(ConfigurationError):
    """A repository already exists where a new one was to be created."""


class CorruptDatasetError(BadInputError, FileIntegrityError):
    """A stored file cannot be read as the dataset it should hold.

    It is also a `lsst.daf.butler.FileIntegrityError` so that the datastore
    passes it through ``Butler.get`` as it is, instead of wrapping it in a
    `ValueError` with a multi-line message.
    """
