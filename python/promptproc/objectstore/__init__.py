"""Object stores: where raws arrive and where files are kept, behind one protocol.

- `ObjectStore`: the protocol (`~ObjectStore.put_bytes`, `~ObjectStore.put_file`,
  `~ObjectStore.get_bytes`, `~ObjectStore.download`, `~ObjectStore.exists`,
  `~ObjectStore.list`, `~ObjectStore.delete`, `~ObjectStore.uri`);
- `S3ObjectStore`: one S3 bucket through boto3 (Ceph RGW, MinIO, AWS, moto);
- `LocalObjectStore`: a directory with atomic writes, the embedded default,
  which can announce each put (``on_put``) since it has no bucket notifications;
- `open_object_store`: a store from ``s3://bucket``, ``file:///path`` or a path.

Failures are `~promptproc.errors` exceptions: `ObjectNotFoundError` (a
`~promptproc.errors.BadInputError`) for a missing object,
`~promptproc.errors.ConfigurationError` for a missing bucket or refused
credentials, `~promptproc.errors.ServiceUnavailableError` for an unreachable
store.
"""

from ._local import LocalObjectStore, write_atomically
from ._open import open_object_store
from ._protocol import ObjectNotFoundError, ObjectStore, PutHook
from ._s3 import S3ObjectStore

__all__ = [
    "LocalObjectStore",
    "ObjectNotFoundError",
    "ObjectStore",
    "PutHook",
    "S3ObjectStore",
    "open_object_store",
    "write_atomically",
]
