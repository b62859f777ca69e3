"""What only the embedded store does: hard-link staging, sidecars, symlink defence, layout."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time

import pytest

from stepline.storage import InvalidKey, StorageError, StoreSettings, get_store, load_settings
from stepline.storage.base import parse_s3_uri, stage_relative_path, validate_key
from stepline.storage.local import LocalStore
from stepline.storage.s3 import S3Store


@pytest.fixture
def bkt(local_store: LocalStore) -> str:
    local_store.create_bucket("bkt")
    return "bkt"


def test_layout_and_read_only_objects(local_store, bkt):
    local_store.put_bytes("s3://bkt/a/b.txt", b"hi")
    path = local_store.root / "bkt" / "a" / "b.txt"
    assert path.read_bytes() == b"hi"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # jobs see it through an overlay
    meta = json.loads((local_store.root / ".meta" / "bkt" / "a" / "b.txt").read_text())
    assert meta["etag"] == hashlib.md5(b"hi").hexdigest()
    assert meta["content_type"] == "text/plain"
    assert os.listdir(local_store.root / ".tmp") == []


def test_stage_uses_hard_links(local_store, bkt, tmp_path):
    local_store.put_bytes("s3://bkt/in/x.bin", os.urandom(1000))
    local_store.put_bytes("s3://bkt/in/deep/y.bin", b"y")
    staged = local_store.stage("s3://bkt/in/", tmp_path / "job")
    for p in staged:
        rel = p.relative_to(tmp_path / "job").as_posix()
        src = local_store.root / "bkt" / "in" / rel
        assert p.stat().st_ino == src.stat().st_ino
        assert p.stat().st_nlink >= 2


def test_stage_many_files_is_fast(local_store, bkt, tmp_path):
    big = os.urandom(1024 * 1024)
    for i in range(64):
        local_store.put_bytes(f"s3://bkt/data/part-{i:03d}", big)
    start = time.perf_counter()
    staged = local_store.stage("s3://bkt/data/", tmp_path / "job")
    assert len(staged) == 64
    assert time.perf_counter() - start < 1.0


def test_stage_replaces_existing_files(local_store, bkt, tmp_path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "x").write_bytes(b"stale")
    local_store.put_bytes("s3://bkt/in/x", b"fresh")
    local_store.stage("s3://bkt/in/", tmp_path / "job")
    assert (tmp_path / "job" / "x").read_bytes() == b"fresh"


def test_stale_sidecar_is_ignored(local_store, bkt):
    local_store.put_bytes("s3://bkt/k", b"old")
    meta_path = local_store.root / ".meta" / "bkt" / "k"
    old_meta = meta_path.read_text()
    local_store.put_bytes("s3://bkt/k", b"new content")
    meta_path.chmod(0o644)
    meta_path.write_text(old_meta)  # as if we crashed between the two renames
    info = local_store.head("s3://bkt/k")
    assert info.etag == hashlib.md5(b"new content").hexdigest()
    meta_path.unlink()
    assert local_store.head("s3://bkt/k").etag == hashlib.md5(b"new content").hexdigest()


def test_crash_mid_write_leaves_no_object(local_store, bkt, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        local_store.put_bytes("s3://bkt/x", b"data")
    monkeypatch.undo()
    assert not local_store.exists("s3://bkt/x")
    assert os.listdir(local_store.root / ".tmp") == []


def test_symlink_in_store_cannot_escape(local_store, bkt, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (local_store.root / "bkt" / "link").symlink_to(outside)
    (local_store.root / "bkt" / "file-link").symlink_to(outside / "secret")
    with pytest.raises(InvalidKey, match="link/secret"):
        local_store.get_bytes("s3://bkt/link/secret")
    with pytest.raises(InvalidKey, match="link/new"):
        local_store.put_bytes("s3://bkt/link/new", b"evil")
    assert not (outside / "new").exists()
    with pytest.raises(InvalidKey, match="file-link"):
        local_store.get_bytes("s3://bkt/file-link")
    assert list(local_store.list("s3://bkt/")) == []


def test_symlinked_bucket_refused(local_store, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (local_store.root / "evil-bucket").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StorageError, match="symlink"):
        local_store.put_bytes("s3://evil-bucket/x", b"x")
    assert "evil-bucket" not in local_store.list_buckets()


def test_object_and_folder_conflict(local_store, bkt):
    local_store.put_bytes("s3://bkt/a", b"file")
    with pytest.raises(InvalidKey, match="'a/b'"):
        local_store.put_bytes("s3://bkt/a/b", b"x")
    local_store.put_bytes("s3://bkt/d/e", b"x")
    with pytest.raises(InvalidKey, match="'d'"):
        local_store.put_bytes("s3://bkt/d", b"x")
    assert local_store.get_bytes("s3://bkt/a") == b"file"


def test_delete_prunes_empty_folders(local_store, bkt):
    local_store.put_bytes("s3://bkt/x/y/z", b"1")
    local_store.delete("s3://bkt/x/y/z")
    assert os.listdir(local_store.root / "bkt") == []
    assert os.listdir(local_store.root / ".meta" / "bkt") == []
    local_store.put_bytes("s3://bkt/x", b"now a file")  # no leftover folder in the way


def test_staging_refuses_symlinks_in_destination(local_store, bkt, tmp_path):
    local_store.put_bytes("s3://bkt/in/sub/x", b"x")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "sub").symlink_to(tmp_path)  # planted by a previous job
    with pytest.raises(InvalidKey, match="escape"):
        local_store.stage("s3://bkt/in/", tmp_path / "dest")
    assert not (tmp_path / "x").exists()


# -- pure functions -------------------------------------------------------------------------


def test_parse_s3_uri():
    assert parse_s3_uri("s3://bkt/a/b.txt") == ("bkt", "a/b.txt")
    assert parse_s3_uri("s3://bkt", allow_prefix=True) == ("bkt", "")
    assert parse_s3_uri("s3://bkt/a/", allow_prefix=True) == ("bkt", "a/")
    with pytest.raises(ValueError, match="no key"):
        parse_s3_uri("s3://bkt/")
    with pytest.raises(ValueError, match="not an S3 URI"):
        parse_s3_uri("/local/path")
    with pytest.raises(ValueError, match="'a/../b'"):
        parse_s3_uri("s3://bkt/a/../b")


def test_validate_key_prefix_mode():
    assert validate_key("", allow_prefix=True) == ""
    assert validate_key("data/tr", allow_prefix=True) == "data/tr"
    with pytest.raises(InvalidKey):
        validate_key("data//", allow_prefix=True)


@pytest.mark.parametrize(
    ("prefix", "key", "rel"),
    [
        ("data/train", "data/train-1.csv", "train-1.csv"),
        ("data/train", "data/train/a.csv", "train/a.csv"),
        ("data/train/", "data/train/a.csv", "a.csv"),
        ("data/train.csv", "data/train.csv", "train.csv"),
        ("", "x/y", "x/y"),
        ("tr", "train/a", "train/a"),
    ],
)
def test_stage_relative_path_follows_sagemaker(prefix, key, rel):
    assert stage_relative_path(prefix, key) == rel


# -- settings -------------------------------------------------------------------------------


def test_default_store_is_local(home):
    store = get_store()
    assert isinstance(store, LocalStore)
    assert store.root == (home / "objects").resolve()


def test_aws_credentials_alone_keep_local(home, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    assert load_settings().backend == "local"


def test_endpoint_env_selects_s3(home, monkeypatch):
    monkeypatch.setenv("STEPLINE_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    store = get_store()
    assert isinstance(store, S3Store)
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.setenv("STEPLINE_STORE", "local")
    assert isinstance(get_store(), LocalStore)


def test_aws_endpoint_env_selects_s3(home, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:7")
    assert load_settings().backend == "s3"
    assert get_store().client.meta.endpoint_url == "http://127.0.0.1:7"


def test_config_file(home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        '[storage.s3]\nendpoint_url = "http://127.0.0.1:8"\naccess_key_id = "ak"\n'
        'secret_access_key = "sk"\nregion = "eu-west-1"\n'
    )
    settings = load_settings()
    assert settings.backend == "s3" and settings.access_key_id == "ak"
    store = get_store()
    assert store.client.meta.region_name == "eu-west-1"
    (home / "config.toml").write_text('[storage]\nbackend = "nope"\n')
    with pytest.raises(StorageError, match="unknown storage backend"):
        load_settings()


def test_a_backend_is_a_module_named_in_the_registry(home, monkeypatch):
    """``BACKENDS`` names each backend's module; its ``from_settings`` builds the store, and
    a name missing there is refused whether it comes from the settings or is built by hand."""
    from stepline.storage import settings as store_settings

    assert isinstance(get_store(StoreSettings(backend="local")), LocalStore)
    with pytest.raises(StorageError, match=r"unknown storage backend 'nope' \(expected 'local'"):
        get_store(StoreSettings(backend="nope"))
    # A backend added to the registry is chosen by name, through its module's from_settings.
    monkeypatch.setitem(store_settings.BACKENDS, "nope", "stepline.storage.local")
    monkeypatch.setenv("STEPLINE_STORE", "nope")
    assert load_settings().backend == "nope"
    assert isinstance(get_store(), LocalStore)


def test_config_json(home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.json").write_text(json.dumps({"storage": {"backend": "s3"}}))
    assert load_settings().backend == "s3"
