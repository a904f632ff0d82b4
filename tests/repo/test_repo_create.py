"""Creating central repositories: SQLite, PostgreSQL, S3, and every way it can fail."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from lsst.daf.butler import Butler
from repo_testdata import EPOCHS, make_exposure, unique_namespace

from promptproc.errors import ConfigurationError, ServiceUnavailableError
from promptproc.repo import (
    EXPOSURE_STORAGE_CLASS,
    RepoExistsError,
    create_central_repo,
    ingest_calibration,
    normalize_registry_url,
    register_dataset_types,
    register_instrument,
    setup_collections,
)
from promptproc.testing.services import PostgresDatabase, S3Service

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"


def test_sqlite_repo_in_root_has_our_storage_classes(tmp_path: Path) -> None:
    root = create_central_repo(tmp_path / "repo")
    config = yaml.safe_load((tmp_path / "repo" / "butler.yaml").read_text())
    assert config["storageClasses"][EXPOSURE_STORAGE_CLASS]["pytype"] == "promptproc.image.Exposure"
    assert config["datastore"]["formatters"][EXPOSURE_STORAGE_CLASS] == "promptproc.repo.ExposureFormatter"
    assert (tmp_path / "repo" / "gen3.sqlite3").exists()
    butler = Butler.from_config(root)
    assert butler.registry.queryDatasetTypes() == []
    butler.close()


def test_separate_sqlite_file_and_datastore_directory(tmp_path: Path, simcam) -> None:
    root = create_central_repo(
        tmp_path / "repo", registry=str(tmp_path / "reg.sqlite3"), datastore_root=tmp_path / "files"
    )
    butler = Butler.from_config(root, writeable=True)
    register_instrument(butler, simcam)
    register_dataset_types(butler, ["bias"])
    ref = ingest_calibration(
        butler, "bias", make_exposure(1.0), {"instrument": "SimCam", "detector": 1}, EPOCHS[0]
    )
    assert Path(butler.getURI(ref).ospath).is_relative_to(tmp_path / "files")
    assert (tmp_path / "reg.sqlite3").stat().st_size > 0
    butler.close()


def test_existing_repo_is_refused(empty_repo: str) -> None:
    with pytest.raises(RepoExistsError, match="already exists"):
        create_central_repo(empty_repo)
    # The refused call changed nothing.
    Butler.from_config(empty_repo).close()


@pytest.mark.parametrize(
    ("registry", "match"),
    [
        ("mysql://u@h/db", "unsupported registry scheme 'mysql'"),
        ("postgresql://u@h", "names no database"),
        ("sqlite:///", "names no database file"),
        ("", "empty registry"),
    ],
)
def test_bad_registry_argument(registry: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=match):
        create_central_repo(tmp_path / "repo", registry=registry)
    assert not (tmp_path / "repo" / "butler.yaml").exists()


def test_unknown_root_scheme(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unsupported repository root"):
        create_central_repo("gs://bucket/repo")
    with pytest.raises(ConfigurationError, match="applies to a PostgreSQL registry only"):
        create_central_repo(tmp_path / "r", namespace="abc")
    with pytest.raises(ConfigurationError, match="invalid namespace"):
        create_central_repo(tmp_path / "r", registry=UNREACHABLE, namespace="no-dashes")


def test_normalize_registry_url(tmp_path: Path) -> None:
    assert normalize_registry_url(str(tmp_path / "a.db")) == f"sqlite:///{tmp_path}/a.db"
    assert normalize_registry_url(f"sqlite:///{tmp_path}/b.db") == f"sqlite:///{tmp_path}/b.db"
    url = "postgresql+psycopg://u:pw@h:5/db"
    assert normalize_registry_url(url) == url


def test_unreachable_postgres_is_one_clear_error(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as info:
        create_central_repo(tmp_path / "repo", registry=UNREACHABLE)
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert "cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/x" in message
    assert not (tmp_path / "repo" / "butler.yaml").exists()


@pytest.mark.services
def test_postgres_registry_with_namespace(postgres: PostgresDatabase, tmp_path: Path, simcam) -> None:
    namespace = unique_namespace()
    root = create_central_repo(tmp_path / "repo", registry=postgres.url, namespace=namespace)
    butler = Butler.from_config(root, writeable=True)
    register_instrument(butler, simcam)
    setup_collections(butler, "SimCam")
    butler.close()
    with postgres.connect() as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (namespace,)
        ).fetchone()[0]
    assert tables > 10
    # The same schema cannot host a second registry, whatever the root.
    with pytest.raises(RepoExistsError, match=namespace):
        create_central_repo(tmp_path / "other", registry=postgres.url, namespace=namespace)
    assert not (tmp_path / "other" / "butler.yaml").exists()


@pytest.mark.services
def test_s3_datastore_with_postgres_registry(
    postgres: PostgresDatabase, s3: S3Service, tmp_path: Path, simcam
) -> None:
    bucket = s3.create_bucket()
    root = create_central_repo(
        tmp_path / "repo",
        registry=postgres.url,
        namespace=unique_namespace(),
        datastore_root=f"s3://{bucket}/central",
    )
    butler = Butler.from_config(root, writeable=True)
    register_instrument(butler, simcam)
    register_dataset_types(butler, ["bias"])
    exposure = make_exposure(42.0)
    ref = ingest_calibration(butler, "bias", exposure, {"instrument": "SimCam", "detector": 3}, EPOCHS[1])
    uri = butler.getURI(ref)
    assert uri.scheme == "s3"
    assert uri.netloc == bucket
    assert uri.path.startswith("/central/")
    keys = [obj["Key"] for obj in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(key.startswith("central/SimCam/calib/2026b/bias/") for key in keys)
    butler.close()

    reader = Butler.from_config(root)
    got = reader.get("bias", instrument="SimCam", detector=3, collections="SimCam/calib/2026b")
    np.testing.assert_array_equal(got.image, exposure.image)
    assert got.visit_info == exposure.visit_info
    assert reader.get(ref.makeComponentRef("psf")).fwhm == pytest.approx(3.0)
    reader.close()


@pytest.mark.services
def test_s3_root_and_missing_bucket(postgres: PostgresDatabase, s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.create_bucket()
    with pytest.raises(ConfigurationError, match="needs a postgresql:// registry"):
        create_central_repo(f"s3://{bucket}/repo")
    with pytest.raises(ConfigurationError, match=r"bucket 'no-such-bucket-x1' .* does not exist"):
        create_central_repo(
            "s3://no-such-bucket-x1/repo", registry=postgres.url, namespace=unique_namespace()
        )
    with pytest.raises(ConfigurationError, match="does not exist"):
        create_central_repo(
            tmp_path / "repo",
            registry=postgres.url,
            namespace=unique_namespace(),
            datastore_root="s3://no-such-bucket-x2/files",
        )
    root = create_central_repo(f"s3://{bucket}/repo", registry=postgres.url, namespace=unique_namespace())
    assert root == f"s3://{bucket}/repo/"
    butler = Butler.from_config(root)
    assert butler.registry.queryDatasetTypes() == []
    butler.close()
    with pytest.raises(RepoExistsError):
        create_central_repo(root, registry=postgres.url, namespace=unique_namespace())
