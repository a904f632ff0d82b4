"""`LocalObjectStore`: an object store in a local directory (the embedded default)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import BadInputError, ConfigurationError, ServiceUnavailableError
from ._protocol import ObjectNotFoundError, PutHook

__all__ = ["LocalObjectStore", "write_atomically"]

# Temporary files are written next to their target under this prefix and renamed into place;
# listings skip them and keys may not use the prefix.
_TMP_PREFIX = ".promptproc-tmp-"
_CHUNK = 1 << 20


def write_atomically(path: Path, write: Callable[[BinaryIO], object], *, fsync: bool = True) -> None:
    """Write a file so that readers see either nothing or the whole content.

    The content goes to a temporary file in the same directory, which is
    then renamed over ``path``; on any failure the temporary file is removed
    and ``path`` is untouched.

    Parameters
    ----------
    path : `pathlib.Path`
        Destination; missing parent directories are created.
    write : callable
        Called with the open binary temporary file.
    fsync : `bool`
        Flush the content to disk before the rename, so that a crash cannot
        leave an empty file under ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            if fsync:
                os.fsync(stream.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _copy_from(source: Path) -> Callable[[BinaryIO], None]:
    def write(stream: BinaryIO) -> None:
        with source.open("rb") as original:
            shutil.copyfileobj(original, stream, _CHUNK)

    return write


class LocalObjectStore:
    """An object store in a local directory: key ``a/b.fits`` is the file ``root/a/b.fits``.

    Writes are atomic (temporary file and rename), so a reader never sees
    half an object. Keys must be relative ``/``-separated paths without
    empty, ``.`` or ``..`` components; anything that could escape ``root``
    is refused with `~promptproc.errors.BadInputError`. Unlike S3, a key
    cannot be both an object and the prefix of another (``a`` and ``a/b``).
    Directories left empty by `delete` are kept.

    Parameters
    ----------
    root : `str` or `os.PathLike`
        Directory holding the objects.
    bucket : `str`, optional
        Name reported as `bucket` (in notifications); the directory name by default.
    on_put : callable, optional
        Called as ``on_put(bucket, key)`` after each successful put, e.g.
        ``QueueNotificationSource.publish``: a directory has no bucket
        notifications of its own, so this is how the embedded default tells
        waiting workers that a raw arrived. Its exceptions propagate.
    create : `bool`
        Create ``root`` if it does not exist; otherwise a missing ``root`` is
        a `~promptproc.errors.ConfigurationError`.
    fsync : `bool`
        Flush each object to disk before it becomes visible.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        bucket: str | None = None,
        on_put: PutHook | None = None,
        create: bool = True,
        fsync: bool = True,
    ) -> None:
        path = Path(root).expanduser().absolute()
        if create:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConfigurationError(f"cannot create object store directory {path}: {err}") from err
        if not path.is_dir():
            raise ConfigurationError(f"object store directory {path} does not exist")
        self._root = path
        self._real_root = Path(os.path.realpath(path))
        self._bucket = bucket if bucket is not None else path.name
        self._on_put = on_put
        self._fsync = fsync

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self._root)!r})"

    @property
    def root(self) -> Path:
        """The directory holding the objects."""
        return self._root

    @property
    def bucket(self) -> str:
        """Name reported in notifications (the directory name unless given)."""
        return self._bucket

    # -- keys ------------------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        """Return the file of a key, after checking the key stays inside the root.

        Raises
        ------
        BadInputError
            If the key is empty, absolute, has an empty, ``.`` or ``..``
            component, a backslash or NUL, or resolves outside the root
            through a symbolic link.
        """
        if not isinstance(key, str) or not key:
            raise BadInputError(f"object key must be a non-empty string, not {key!r}")
        if key.startswith("/") or "\\" in key or "\x00" in key:
            raise BadInputError(f"object key {key!r} must be a relative '/'-separated path")
        for part in key.split("/"):
            if part in ("", ".", ".."):
                raise BadInputError(f"object key {key!r} has an empty, '.' or '..' component")
            if part.startswith(_TMP_PREFIX):
                raise BadInputError(f"object key {key!r} uses the reserved prefix {_TMP_PREFIX!r}")
        path = self._root / key
        real = Path(os.path.realpath(path))
        if real != self._real_root and self._real_root not in real.parents:
            raise BadInputError(f"object key {key!r} leads outside the store {self._root}")
        return path

    def _check_prefix(self, prefix: str) -> None:
        if not isinstance(prefix, str) or prefix.startswith("/") or "\\" in prefix or "\x00" in prefix:
            raise BadInputError(f"key prefix {prefix!r} must be a relative '/'-separated path")
        *directories, last = prefix.split("/")
        if any(part in ("", ".", "..") for part in directories) or last == "..":
            raise BadInputError(f"key prefix {prefix!r} has an empty, '.' or '..' component")

    @contextlib.contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as err:
            raise ObjectNotFoundError(f"no object {key!r} in {self._root} ({action})") from err
        except PermissionError as err:
            raise ConfigurationError(f"no permission to {action} {key!r} in {self._root}: {err}") from err
        except OSError as err:
            raise ServiceUnavailableError(f"cannot {action} {key!r} in {self._root}: {err}") from err

    # -- writing ---------------------------------------------------------------------------

    def _put(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        path = self.path_of(key)
        try:
            write_atomically(path, write, fsync=self._fsync)
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as err:
            raise BadInputError(
                f"object key {key!r} clashes with another key in {self._root} (a key cannot also be "
                f"the prefix of a key in a local store): {err}"
            ) from err
        except PermissionError as err:
            raise ConfigurationError(f"no permission to write {key!r} in {self._root}: {err}") from err
        except OSError as err:
            raise ServiceUnavailableError(f"cannot write {key!r} in {self._root}: {err}") from err
        if self._on_put is not None:
            self._on_put(self._bucket, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store bytes under a key, atomically; see `ObjectStore.put_bytes`."""
        self._put(key, lambda stream: stream.write(data))

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Store a copy of a file under a key, atomically.

        Raises
        ------
        BadInputError
            If the key is unusable or ``path`` is not a readable file.
        """
        source = Path(path)
        if not source.is_file():
            raise BadInputError(f"cannot store {source} as {key!r}: not a file")
        self._put(key, _copy_from(source))

    # -- reading ---------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        """Return the content of an object; see `ObjectStore.get_bytes`."""
        path = self.path_of(key)
        with self._errors("read", key):
            return path.read_bytes()

    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        """Copy an object to a file, atomically; see `ObjectStore.download`."""
        source = self.path_of(key)
        if not source.is_file():
            raise ObjectNotFoundError(f"no object {key!r} in {self._root}")
        with self._errors("download", key):
            write_atomically(Path(path), _copy_from(source), fsync=False)

    def exists(self, key: str) -> bool:
        """Whether an object has this key."""
        return self.path_of(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, sorted; temporary files are never listed."""
        self._check_prefix(prefix)
        directory, _, _ = prefix.rpartition("/")
        base = self._root / directory if directory else self._root
        if not base.is_dir():
            return []
        keys: list[str] = []
        try:
            for current, subdirectories, files in os.walk(base):
                relative = Path(current).relative_to(self._root).as_posix()
                stem = "" if relative == "." else relative + "/"
                # Only descend where keys can still start with the prefix.
                subdirectories[:] = [
                    name
                    for name in subdirectories
                    if (stem + name + "/").startswith(prefix) or prefix.startswith(stem + name + "/")
                ]
                keys.extend(
                    stem + name
                    for name in files
                    if not name.startswith(_TMP_PREFIX) and (stem + name).startswith(prefix)
                )
        except OSError as err:
            raise ServiceUnavailableError(f"cannot list {prefix!r} in {self._root}: {err}") from err
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Delete an object; a missing object is not an error."""
        path = self.path_of(key)
        if path.is_dir():
            return
        with self._errors("delete", key), contextlib.suppress(FileNotFoundError):
            path.unlink()

    def uri(self, key: str) -> str:
        """``file://`` URI of an object."""
        return self.path_of(key).as_uri()
