"""The object-store interface shared by the embedded store and S3-compatible servers.

Jobs never talk to the store: the engine *stages* a job's inputs into local folders before it
runs and *uploads* its output folder after.  So the interface is deliberately small -- whole
objects in, whole objects out, listing by prefix like S3 -- and both backends pass the same
test-suite.  Every write is atomic: a reader sees the old object or the new one, never half.
"""

from __future__ import annotations

import mimetypes
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

#: Called with a number of bytes just transferred (for progress bars).
Progress = Callable[[int], None]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_KEY_BYTES = 1024  # S3's limit on a key's UTF-8 length
MAX_SEGMENT_BYTES = 255  # a file name on every filesystem we care about


class StorageError(Exception):
    """Base class of every object-store error; the message names the URI concerned."""


class InvalidURI(StorageError, ValueError):
    """Not an ``s3://bucket/key`` URI."""


class InvalidBucketName(StorageError, ValueError):
    """A bucket name breaking S3's naming rules."""


class InvalidKey(StorageError, ValueError):
    """A key that could escape the store or a staging folder, or that no filesystem can hold."""


class NoSuchBucket(StorageError):
    """The bucket does not exist."""


class NoSuchKey(StorageError):
    """No object under this key (``head``/``get``) or no object under this prefix (``stage``)."""


# -- URIs, bucket names, keys -------------------------------------------------------------

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def validate_bucket_name(name: str) -> str:
    """Check ``name`` against S3's general-purpose bucket naming rules and return it.

    3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a
    letter or digit, no ``..``, not shaped like an IP address, none of the reserved prefixes
    (``xn--``, ``sthree-``, ``amzn-s3-demo-``) or suffixes (``-s3alias``, ``--ol-s3``,
    ``.mrap``, ``--x-s3``).  The embedded store applies the same rules so a pipeline that works
    locally works against AWS.
    """
    problem = None
    if not isinstance(name, str) or not _BUCKET_RE.match(name):
        problem = (
            "must be 3-63 characters of lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    elif ".." in name:
        problem = "must not contain '..'"
    elif _IPV4_RE.match(name):
        problem = "must not be formatted as an IP address"
    elif name.startswith(("xn--", "sthree-", "amzn-s3-demo-")):
        problem = "must not start with a reserved prefix"
    elif name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3")):
        problem = "must not end with a reserved suffix"
    if problem:
        raise InvalidBucketName(f"invalid bucket name {name!r}: {problem}")
    return name


def validate_key(key: str, *, allow_prefix: bool = False) -> str:
    """Check that ``key`` is safe to map onto a filesystem path, and return it.

    Keys are treated as hostile: stepline maps them to files (the embedded store, staging
    folders), so a key must not be absolute, contain ``.``/``..`` or empty segments, NUL or
    other control characters or backslashes, and must fit S3's 1024-byte limit.  With
    ``allow_prefix`` (listing, staging, deleting by prefix) the key may be empty or end in
    ``/`` and the last segment may be partial.
    """

    def bad(why: str) -> InvalidKey:
        return InvalidKey(f"invalid key {key!r}: {why}")

    if not isinstance(key, str):
        raise InvalidKey(f"invalid key {key!r}: not a string")
    if key == "":
        if allow_prefix:
            return key
        raise bad("empty key")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise bad(f"longer than {MAX_KEY_BYTES} bytes")
    if any(ord(c) < 0x20 or c == "\x7f" for c in key):
        raise bad("contains NUL or a control character")
    if "\\" in key:
        raise bad("contains a backslash")
    if key.startswith("/"):
        raise bad("absolute keys (leading '/') are not allowed")
    segments = key.split("/")
    if allow_prefix and segments[-1] == "":
        segments = segments[:-1]
    for seg in segments:
        if seg == "":
            raise bad("empty path segment ('//' or trailing '/')")
        if seg in (".", ".."):
            raise bad(f"'{seg}' path segments are not allowed")
        if len(seg.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise bad(f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def parse_s3_uri(uri: str, *, allow_prefix: bool = False) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``, validating both.

    The one place URIs are parsed, so every command and API gives the same clear errors.
    ``allow_prefix`` accepts ``s3://bucket``, ``s3://bucket/`` and keys ending in ``/``.
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidURI(f"not an S3 URI (expected s3://bucket/key): {uri!r}")
    rest = uri[len("s3://") :]
    bucket, sep, key = rest.partition("/")
    if not bucket:
        raise InvalidURI(f"S3 URI has no bucket: {uri!r}")
    validate_bucket_name(bucket)
    if not key and not allow_prefix:
        raise InvalidURI(f"S3 URI has no key (expected s3://bucket/key): {uri!r}")
    validate_key(key, allow_prefix=allow_prefix)
    return bucket, key


def s3_uri(bucket: str, key: str = "") -> str:
    """The inverse of :func:`parse_s3_uri`."""
    return f"s3://{bucket}/{key}"


def join_key(prefix: str, relative: str) -> str:
    """``prefix`` + ``/`` + ``relative`` as S3 keys join (no doubled or leading slash)."""
    if not prefix:
        return relative
    return prefix + relative if prefix.endswith("/") else f"{prefix}/{relative}"


def stage_relative_path(prefix: str, key: str) -> str:
    """The local path, relative to the staging folder, of ``key`` staged from ``prefix``.

    SageMaker's S3Prefix rule (what real training and processing jobs do): the key minus the
    prefix *up to its last* ``/``.  ``data/train`` stages ``data/train-1.csv`` as
    ``train-1.csv`` and ``data/train/a.csv`` as ``train/a.csv``; ``data/train/`` stages
    ``data/train/a.csv`` as ``a.csv``; a prefix naming one object stages it by its base name.
    """
    cut = prefix.rfind("/") + 1
    return key[cut:]


def guess_content_type(key: str) -> str:
    """A content type from the key's extension, as ``aws s3 cp`` does."""
    return mimetypes.guess_type(key, strict=False)[0] or DEFAULT_CONTENT_TYPE


def safe_local_path(root: Path, relative: str, key: str) -> Path:
    """``root / relative`` after checking it cannot land outside ``root``."""
    validate_key(relative)
    path = root / relative
    resolved_root = os.path.realpath(root)
    if not os.path.realpath(path).startswith(resolved_root.rstrip(os.sep) + os.sep):
        raise InvalidKey(f"invalid key {key!r}: its local path would escape {root}")
    return path


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    """What ``head``/``list`` report about an object.

    ``etag`` is the MD5 hex of the content for single-part uploads (both backends), without
    quotes.  For a non-recursive listing, common prefixes come back as entries with
    ``is_prefix=True`` and only ``bucket``/``key`` set.
    """

    bucket: str
    key: str
    size: int = 0
    etag: str = ""
    last_modified: datetime | None = None
    content_type: str | None = None
    is_prefix: bool = False
    #: User metadata (S3's ``x-amz-meta-*``, names lower-case); empty in listings.
    metadata: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key)

    def to_dict(self) -> dict:
        """A JSON-ready dict (used by ``stepline s3 ls --json``)."""
        if self.is_prefix:
            return {"uri": self.uri, "key": self.key, "prefix": True}
        return {
            "uri": self.uri,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "content_type": self.content_type,
        }


@dataclass
class ListPage:
    """One page of a ListObjectsV2-style listing."""

    objects: list[ObjectInfo] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    next_token: str | None = None

    @property
    def is_truncated(self) -> bool:
        return self.next_token is not None


# -- the interface ------------------------------------------------------------------------


class ObjectStore(ABC):
    """An S3-shaped object store.  URIs are ``s3://bucket/key`` on every backend."""

    #: A short name for messages and ``--json`` output ("local" or "s3").
    kind: str = ""

    # Buckets
    @abstractmethod
    def create_bucket(self, name: str) -> None:
        """Create a bucket; creating one that already exists is not an error."""

    @abstractmethod
    def list_buckets(self) -> list[str]:
        """Bucket names, sorted."""

    # Single objects
    @abstractmethod
    def put_bytes(
        self,
        uri: str,
        data: bytes,
        content_type: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store ``data`` at ``uri`` atomically (replacing any previous object), with its
        user ``metadata`` (S3's ``x-amz-meta-*``)."""

    @abstractmethod
    def put_fileobj(
        self,
        uri: str,
        fileobj: BinaryIO,
        content_type: str | None = None,
        progress: Progress | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store everything read from ``fileobj``; if reading fails nothing is stored."""

    def put_file(
        self,
        uri: str,
        path: str | os.PathLike[str],
        content_type: str | None = None,
        progress: Progress | None = None,
    ) -> ObjectInfo:
        """Store the local file ``path`` at ``uri`` atomically."""
        with open(path, "rb") as fh:
            return self.put_fileobj(uri, fh, content_type, progress)

    @abstractmethod
    def get_bytes(self, uri: str) -> bytes:
        """The whole content of the object (raises :class:`NoSuchKey`)."""

    @abstractmethod
    def download_file(
        self, uri: str, path: str | os.PathLike[str], progress: Progress | None = None
    ) -> Path:
        """Write the object to the local ``path`` atomically (temp file + rename)."""

    @abstractmethod
    def head(self, uri: str) -> ObjectInfo:
        """Metadata of the object (raises :class:`NoSuchKey`)."""

    def exists(self, uri: str) -> bool:
        try:
            self.head(uri)
        except NoSuchKey:
            return False
        return True

    @abstractmethod
    def copy(
        self,
        src_uri: str,
        dst_uri: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Server-side copy of one object (no bytes through this process where possible).

        The copy keeps the source's content type and user metadata unless ``metadata`` is
        given (S3's ``MetadataDirective: REPLACE``: both are replaced)."""

    @abstractmethod
    def delete(self, uri: str) -> None:
        """Delete the object; deleting a missing key is not an error (as in S3)."""

    def delete_prefix(self, prefix_uri: str) -> int:
        """Delete every object whose key starts with the prefix; returns how many."""
        count = 0
        for info in list(self.list(prefix_uri)):
            self.delete(info.uri)
            count += 1
        return count

    # Listing
    @abstractmethod
    def list_page(
        self,
        prefix_uri: str,
        delimiter: str | None = None,
        max_keys: int = 1000,
        continuation_token: str | None = None,
    ) -> ListPage:
        """One page of keys starting with the prefix, in lexicographic (UTF-8 byte) order.

        Like S3 ListObjectsV2: with ``delimiter`` keys containing it after the prefix roll up
        into common prefixes; at most ``max_keys`` entries (objects plus prefixes); pass the
        page's ``next_token`` to get the next page.
        """

    def list(self, prefix_uri: str, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Every object under the prefix; non-recursive also yields common prefixes (``/``)."""
        bucket, _ = parse_s3_uri(prefix_uri, allow_prefix=True)
        token = None
        while True:
            page = self.list_page(
                prefix_uri, delimiter=None if recursive else "/", continuation_token=token
            )
            entries = list(page.objects) + [
                ObjectInfo(bucket=bucket, key=p, is_prefix=True) for p in page.common_prefixes
            ]
            entries.sort(key=lambda e: e.key.encode("utf-8", "surrogatepass"))
            yield from entries
            if page.next_token is None:
                return
            token = page.next_token

    # Jobs
    @abstractmethod
    def stage(self, prefix_uri: str, dest_dir: str | os.PathLike[str]) -> list[Path]:
        """Materialise every object under ``prefix_uri`` into ``dest_dir`` for a job.

        SageMaker S3Prefix semantics: every key starting with the prefix (a prefix naming a
        single object stages that object), placed at :func:`stage_relative_path`; keys ending
        in ``/`` (folder markers) are skipped.  Raises :class:`NoSuchKey` when nothing
        matches, as SageMaker fails a job whose input is empty.  Staged files are for reading.
        """

    def upload_dir(
        self, src_dir: str | os.PathLike[str], prefix_uri: str, progress: Progress | None = None
    ) -> list[ObjectInfo]:
        """Upload every file under ``src_dir`` to ``prefix_uri`` + its relative path.

        For job outputs; each object is written atomically.  Symlinks are not followed (a job
        cannot publish files outside its output folder).
        """
        bucket, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
        results = []
        for rel in _walk_files(Path(src_dir)):
            key = validate_key(join_key(prefix, rel))
            results.append(
                self.put_file(s3_uri(bucket, key), Path(src_dir) / rel, progress=progress)
            )
        return results

    def _stage_targets(self, prefix_uri: str, dest_dir: Path) -> list[tuple[ObjectInfo, Path]]:
        """(object, local path) pairs to stage, checked to stay inside ``dest_dir``."""
        _, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
        targets = []
        for info in self.list(prefix_uri):
            if info.key.endswith("/"):
                continue
            rel = stage_relative_path(prefix, info.key)
            targets.append((info, safe_local_path(dest_dir, rel, info.key)))
        if not targets:
            raise NoSuchKey(f"no objects found under {prefix_uri}")
        return targets


def _walk_files(root: Path) -> list[str]:
    """Relative POSIX paths of regular files under ``root``, sorted, symlinks skipped."""
    if not root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            found.append(Path(full).relative_to(root).as_posix())
    return sorted(found)
