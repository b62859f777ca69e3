"""The object-store contract, run against the embedded store and a real SeaweedFS server."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest

from stepline.storage import (
    InvalidBucketName,
    InvalidKey,
    InvalidURI,
    NoSuchBucket,
    NoSuchKey,
    StorageError,
)


def u(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"


# -- single objects -------------------------------------------------------------------------


def test_put_get_head_roundtrip(store, bucket):
    data = b"hello world\n" * 100
    info = store.put_bytes(u(bucket, "dir/hello.txt"), data)
    assert (info.bucket, info.key, info.size) == (bucket, "dir/hello.txt", len(data))
    assert info.etag == hashlib.md5(data).hexdigest()
    assert info.uri == u(bucket, "dir/hello.txt")
    assert store.get_bytes(u(bucket, "dir/hello.txt")) == data
    head = store.head(u(bucket, "dir/hello.txt"))
    assert head.etag == info.etag and head.size == len(data)
    assert head.content_type == "text/plain"
    now = datetime.now(UTC)
    assert now - timedelta(minutes=5) < head.last_modified < now + timedelta(minutes=5)


def test_content_type_explicit_and_default(store, bucket):
    store.put_bytes(u(bucket, "a.json"), b"{}", content_type="application/x-custom")
    assert store.head(u(bucket, "a.json")).content_type == "application/x-custom"
    store.put_bytes(u(bucket, "blob"), b"\0\1")
    assert store.head(u(bucket, "blob")).content_type == "application/octet-stream"


def test_overwrite_replaces(store, bucket):
    store.put_bytes(u(bucket, "k"), b"one")
    store.put_bytes(u(bucket, "k"), b"second")
    assert store.get_bytes(u(bucket, "k")) == b"second"
    assert store.head(u(bucket, "k")).etag == hashlib.md5(b"second").hexdigest()


def test_empty_object(store, bucket):
    info = store.put_bytes(u(bucket, "empty"), b"")
    assert info.size == 0 and info.etag == hashlib.md5(b"").hexdigest()
    assert store.get_bytes(u(bucket, "empty")) == b""


def test_missing_key_raises(store, bucket):
    with pytest.raises(NoSuchKey, match="nope"):
        store.head(u(bucket, "nope"))
    with pytest.raises(NoSuchKey, match="nope"):
        store.get_bytes(u(bucket, "nope"))
    assert not store.exists(u(bucket, "nope"))


def test_prefix_is_not_an_object(store, bucket):
    store.put_bytes(u(bucket, "folder/file"), b"x")
    with pytest.raises(NoSuchKey):
        store.head(u(bucket, "folder"))


def test_put_file_and_download_file(store, bucket, tmp_path):
    src = tmp_path / "src.bin"
    payload = os.urandom(300_000)
    src.write_bytes(payload)
    seen = []
    info = store.put_file(u(bucket, "f/src.bin"), src, progress=seen.append)
    assert info.size == len(payload) and sum(seen) == len(payload)
    dest = tmp_path / "out" / "deep" / "copy.bin"
    assert store.download_file(u(bucket, "f/src.bin"), dest) == dest
    assert dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"]  # no temp left behind


def test_download_missing_leaves_nothing(store, bucket, tmp_path):
    with pytest.raises(NoSuchKey):
        store.download_file(u(bucket, "missing"), tmp_path / "d" / "x")
    assert not (tmp_path / "d" / "x").exists()


def test_copy(store, bucket):
    store.put_bytes(u(bucket, "a/src.csv"), b"1,2\n")
    info = store.copy(u(bucket, "a/src.csv"), u(bucket, "b/dst.csv"))
    assert info.etag == hashlib.md5(b"1,2\n").hexdigest()
    store.put_bytes(u(bucket, "a/src.csv"), b"changed")
    assert store.get_bytes(u(bucket, "b/dst.csv")) == b"1,2\n"
    with pytest.raises(NoSuchKey, match="nothing"):
        store.copy(u(bucket, "nothing"), u(bucket, "x"))


def test_user_metadata_kept_by_put_copy_and_replace(store, bucket):
    meta = {"origin": "sdk", "run-id": "42"}
    info = store.put_bytes(u(bucket, "m/a"), b"x", "text/csv", metadata=meta)
    assert dict(info.metadata) == meta
    assert dict(store.head(u(bucket, "m/a")).metadata) == meta
    store.put_fileobj(u(bucket, "m/b"), io.BytesIO(b"y"), metadata={"k": "v"})
    assert dict(store.head(u(bucket, "m/b")).metadata) == {"k": "v"}
    copied = store.copy(u(bucket, "m/a"), u(bucket, "m/c"))  # COPY keeps both
    assert dict(store.head(copied.uri).metadata) == meta
    assert store.head(copied.uri).content_type == "text/csv"
    replaced = store.copy(u(bucket, "m/a"), u(bucket, "m/d"), metadata={"new": "1"})
    head = store.head(replaced.uri)
    assert dict(head.metadata) == {"new": "1"} and head.content_type != "text/csv"
    store.put_bytes(u(bucket, "m/a"), b"again")  # a new object has none
    assert dict(store.head(u(bucket, "m/a")).metadata) == {}


def test_delete_is_idempotent(store, bucket):
    store.put_bytes(u(bucket, "d/x"), b"x")
    store.delete(u(bucket, "d/x"))
    assert not store.exists(u(bucket, "d/x"))
    store.delete(u(bucket, "d/x"))
    assert list(store.list(u(bucket))) == []


def test_delete_prefix(store, bucket):
    for key in ("p/1", "p/2/3", "p2", "q"):
        store.put_bytes(u(bucket, key), b"x")
    assert store.delete_prefix(u(bucket, "p/")) == 2
    assert [i.key for i in store.list(u(bucket))] == ["p2", "q"]


# -- buckets --------------------------------------------------------------------------------


def test_buckets(store, bucket):
    assert bucket in store.list_buckets()
    store.create_bucket(bucket)  # already exists: fine


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "Upper", "under_score", "-dash", "dash-", "a..b", "192.168.1.1",
     "xn--bucket", "bucket-s3alias", "sp ace"],
)  # fmt: skip
def test_invalid_bucket_names(store, name):
    with pytest.raises(InvalidBucketName, match="invalid bucket name"):
        store.create_bucket(name)


def test_missing_bucket(store):
    with pytest.raises(NoSuchBucket):
        list(store.list("s3://no-such-bucket-stepline/"))
    if store.kind == "local":  # SeaweedFS auto-creates a bucket for an admin's PUT
        with pytest.raises(NoSuchBucket, match="no-such-bucket-stepline"):
            store.put_bytes("s3://no-such-bucket-stepline/k", b"x")


# -- hostile keys and URIs ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../escape", "a/./b", "/abs/path", "a//b", "a/b/", "nul\0byte",
     "ctl\x01", "back\\slash", "..", ".", "x" * 1025, "seg/" + "y" * 256],
)  # fmt: skip
def test_hostile_keys_rejected(store, bucket, key):
    uri = u(bucket, key)
    with pytest.raises(InvalidKey) as err:
        store.put_bytes(uri, b"evil")
    assert repr(key)[:40] in str(err.value) or key[:30] in str(err.value)
    with pytest.raises(InvalidKey):
        store.get_bytes(uri)
    assert list(store.list(u(bucket))) == []


@pytest.mark.parametrize(
    "uri", ["bucket/key", "s3:/bucket/key", "s3:///key", "http://bucket/key", "s3://bucket"]
)
def test_bad_uris(store, uri):
    with pytest.raises(InvalidURI):
        store.get_bytes(uri)


def test_unicode_keys(store, bucket):
    store.put_bytes(u(bucket, "données/été ☃.txt"), b"snow")
    assert store.get_bytes(u(bucket, "données/été ☃.txt")) == b"snow"
    assert [i.key for i in store.list(u(bucket, "données/"))] == ["données/été ☃.txt"]


# -- atomicity ------------------------------------------------------------------------------


class FailingReader(io.RawIOBase):
    """Yields ``good`` bytes then fails, like a disk or network error mid-upload."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001
        if self.left <= 0:
            raise OSError("simulated read failure")
        n = min(len(buf), self.left)
        buf[:n] = b"z" * n
        self.left -= n
        return n


def test_failed_upload_leaves_nothing(store, bucket):
    with pytest.raises((OSError, StorageError)):
        store.put_fileobj(u(bucket, "broken"), io.BufferedReader(FailingReader(3 * 1024 * 1024)))
    assert not store.exists(u(bucket, "broken"))
    assert list(store.list(u(bucket))) == []


def test_failed_overwrite_keeps_old_object(store, bucket):
    store.put_bytes(u(bucket, "keep"), b"original")
    with pytest.raises((OSError, StorageError)):
        store.put_fileobj(u(bucket, "keep"), io.BufferedReader(FailingReader(100_000)))
    assert store.get_bytes(u(bucket, "keep")) == b"original"


def test_readers_never_see_partial_objects(store, bucket):
    size = 2 * 1024 * 1024
    versions = [bytes([65 + i]) * size for i in range(3)]
    uri = u(bucket, "hot")
    store.put_bytes(uri, versions[0])
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                i += 1
                store.put_bytes(uri, versions[i % 3])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(15):
            data = store.get_bytes(uri)
            assert len(data) == size
            assert data in versions
    finally:
        stop.set()
        thread.join()
    assert not errors


# -- listing --------------------------------------------------------------------------------

KEYS = ["a-c", "a/b", "a/c/d", "a/c/e", "a0", "b.txt", "z/y/x"]


def assert_listing_order(store, seen: list[str], expected: list[str]) -> None:
    """Exact S3 order on the embedded store.  SeaweedFS pages walk "folders" depth first
    (``a/b`` before ``a-c``, though ``-`` sorts before ``/``), so across pages only
    completeness without duplicates is portable."""
    if store.kind == "local":
        assert seen == expected
    else:
        assert len(seen) == len(set(seen)) and sorted(seen) == sorted(expected)


@pytest.fixture
def filled(store, bucket):
    for key in KEYS:
        store.put_bytes(u(bucket, key), key.encode())
    return bucket


def test_list_recursive_lexicographic(store, filled):
    assert [i.key for i in store.list(u(filled))] == sorted(KEYS)
    assert [i.key for i in store.list(f"s3://{filled}")] == sorted(KEYS)
    infos = list(store.list(u(filled, "a/")))
    assert [i.key for i in infos] == ["a/b", "a/c/d", "a/c/e"]
    assert all(i.size == len(i.key) and not i.is_prefix for i in infos)
    assert infos[0].etag == hashlib.md5(b"a/b").hexdigest()


def test_list_partial_prefix(store, filled):
    assert [i.key for i in store.list(u(filled, "a"))] == ["a-c", "a/b", "a/c/d", "a/c/e", "a0"]
    assert [i.key for i in store.list(u(filled, "a/c/"))] == ["a/c/d", "a/c/e"]
    assert list(store.list(u(filled, "nothing/"))) == []


def test_list_delimiter(store, filled):
    top = [(i.key, i.is_prefix) for i in store.list(u(filled), recursive=False)]
    assert top == [("a-c", False), ("a/", True), ("a0", False), ("b.txt", False), ("z/", True)]
    sub = [(i.key, i.is_prefix) for i in store.list(u(filled, "a/"), recursive=False)]
    assert sub == [("a/b", False), ("a/c/", True)]


def test_list_page_pagination(store, filled):
    seen, token, pages = [], None, 0
    while True:
        page = store.list_page(u(filled), max_keys=2, continuation_token=token)
        pages += 1
        assert len(page.objects) <= 2
        seen += [o.key for o in page.objects]
        if not page.is_truncated:
            break
        token = page.next_token
    assert pages == 4
    assert_listing_order(store, seen, sorted(KEYS))


def test_list_page_pagination_with_delimiter(store, filled):
    entries, token = [], None
    while True:
        page = store.list_page(u(filled), delimiter="/", max_keys=1, continuation_token=token)
        assert len(page.objects) + len(page.common_prefixes) == 1
        entries += [o.key for o in page.objects] + page.common_prefixes
        if not page.is_truncated:
            break
        token = page.next_token
    assert_listing_order(store, entries, ["a-c", "a/", "a0", "b.txt", "z/"])


# -- staging and outputs --------------------------------------------------------------------


def test_stage_prefix_sagemaker_paths(store, bucket, tmp_path):
    for key in ("data/train-1.csv", "data/train/a.csv", "data/train/sub/b.csv", "data/test.csv"):
        store.put_bytes(u(bucket, key), key.encode())
    dest = tmp_path / "ch"
    staged = store.stage(u(bucket, "data/train"), dest)
    rel = sorted(p.relative_to(dest).as_posix() for p in staged)
    assert rel == ["train-1.csv", "train/a.csv", "train/sub/b.csv"]
    assert (dest / "train" / "sub" / "b.csv").read_bytes() == b"data/train/sub/b.csv"

    dest2 = tmp_path / "ch2"
    store.stage(u(bucket, "data/train/"), dest2)
    assert sorted(p.relative_to(dest2).as_posix() for p in dest2.rglob("*") if p.is_file()) == [
        "a.csv",
        "sub/b.csv",
    ]


def test_stage_single_object(store, bucket, tmp_path):
    store.put_bytes(u(bucket, "models/model.tar.gz"), b"tgz")
    staged = store.stage(u(bucket, "models/model.tar.gz"), tmp_path / "m")
    assert staged == [tmp_path / "m" / "model.tar.gz"]
    assert staged[0].read_bytes() == b"tgz"


def test_stage_nothing_raises(store, bucket, tmp_path):
    with pytest.raises(NoSuchKey, match="no objects"):
        store.stage(u(bucket, "absent/"), tmp_path / "x")


def test_stage_is_a_snapshot(store, bucket, tmp_path):
    store.put_bytes(u(bucket, "in/x"), b"v1")
    (path,) = store.stage(u(bucket, "in/"), tmp_path / "s")
    store.put_bytes(u(bucket, "in/x"), b"v2")
    assert path.read_bytes() == b"v1"


def test_upload_dir(store, bucket, tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "model.bin").write_bytes(b"weights")
    (out / "sub" / "metrics.json").write_bytes(b'{"acc": 1}')
    (tmp_path / "secret").write_bytes(b"not mine")
    (out / "link").symlink_to(tmp_path / "secret")
    infos = store.upload_dir(out, u(bucket, "job-1/output"))
    assert [i.key for i in infos] == ["job-1/output/model.bin", "job-1/output/sub/metrics.json"]
    assert infos[0].etag == hashlib.md5(b"weights").hexdigest()
    assert infos[1].content_type == "application/json"
    assert store.get_bytes(u(bucket, "job-1/output/sub/metrics.json")) == b'{"acc": 1}'
    assert [i.key for i in store.list(u(bucket))] == [i.key for i in infos]


def test_upload_then_stage_roundtrip(store, bucket, tmp_path):
    out = tmp_path / "out"
    files = {"a.txt": b"a", "x/y/z.bin": os.urandom(70_000), "x/w": b""}
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    store.upload_dir(out, u(bucket, "rt/"))
    dest = tmp_path / "in"
    store.stage(u(bucket, "rt/"), dest)
    for rel, data in files.items():
        assert (dest / rel).read_bytes() == data
