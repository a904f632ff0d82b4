"""Names that no other test session uses: databases, keys, topics, buckets."""

from __future__ import annotations

import uuid

__all__ = ["unique_name"]


def unique_name(prefix: str, separator: str) -> str:
    """Return ``prefix`` with a random suffix.

    Parameters
    ----------
    prefix : `str`
        Start of the name.
    separator : `str`
        What goes between the prefix and the suffix, e.g. ``"_"`` or ``"-"``.

    Returns
    -------
    name : `str`
        ``prefix``, ``separator`` and 12 random hexadecimal digits.
    """
    return f"{prefix}{separator}{uuid.uuid4().hex[:12]}"
