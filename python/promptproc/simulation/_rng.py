"""Independent random streams, one per simulated product.

Every product (a star field, one raw, one master flat ...) draws from its own
`numpy.random.Generator`, derived from the simulation seed and the product's
identity (a tuple of names and numbers).  A product can therefore be made
alone, in any order, in any process, and always comes out the same; there is
no global random state.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["derive_rng"]


def derive_rng(seed: int, *identity: object) -> np.random.Generator:
    """Return the random generator of one product.

    Parameters
    ----------
    seed : `int`
        The simulation seed (non-negative).
    *identity
        What the product is, e.g. ``("raw", exposure_id, detector)``; each
        element is turned into text with `str`, so use plain numbers and names.

    Returns
    -------
    rng : `numpy.random.Generator`
        A PCG64 generator whose stream depends only on ``seed`` and ``identity``.
    """
    text = "\x1f".join(str(part) for part in identity).encode()
    digest = hashlib.blake2b(text, digest_size=16).digest()
    words = tuple(int(word) for word in np.frombuffer(digest, dtype="<u4"))
    sequence = np.random.SeedSequence(entropy=int(seed), spawn_key=words)
    return np.random.Generator(np.random.PCG64(sequence))
