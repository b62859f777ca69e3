"""Local source code that a workflow ships to its jobs.

Why deferred: building a workflow must work offline and must not upload anything (the DS SDK
uploads ``sourcedir.tar.gz`` while a step is *constructed*, which fails without a network, its
issue #15).  A :class:`SourceArchive` or :class:`ScriptFile` renders as the URI it *will* have;
``Workflow.create()`` uploads it.  The URI is content-addressed (``.../<sha256>/...``) and the
tarball deterministic (sorted entries, zeroed mtimes and owners, gzip without a timestamp), so
the same code gives the same URI and an unchanged pipeline is not re-uploaded, while changed
code can never be confused with an older upload.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from abc import ABC, abstractmethod
from pathlib import Path

from stepline.storage import ObjectStore, parse_s3_uri

#: Bucket for code and default outputs when none is given (like SageMaker's default bucket).
DEFAULT_BUCKET_ENV = "STEPLINE_DEFAULT_BUCKET"
_DEFAULT_BUCKET = "stepline-default"
_SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def default_bucket() -> str:
    """The bucket used when a job builder is given no S3 location."""
    return os.environ.get(DEFAULT_BUCKET_ENV) or _DEFAULT_BUCKET


def default_code_location() -> str:
    return f"s3://{default_bucket()}/stepline/code"


def _files(root: Path) -> list[tuple[str, Path]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in filenames:
            if name.endswith(_SKIP_SUFFIXES):
                continue
            path = Path(dirpath) / name
            out.append((path.relative_to(root).as_posix(), path))
    return sorted(out)


def deterministic_targz(files: list[tuple[str, Path]]) -> bytes:
    """A gzipped tar of ``(archive name, path)`` pairs that depends only on names and bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in sorted(files):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


class _Upload(ABC):
    """Shared behaviour: content, its sha256, the URI, and the upload."""

    code_location: str
    filename: str

    @abstractmethod
    def data(self) -> bytes:
        """The bytes to upload (a deterministic archive or the script itself)."""

    def digest(self) -> str:
        return hashlib.sha256(self.data()).hexdigest()

    def uri(self) -> str:
        return f"{self.code_location.rstrip('/')}/{self.digest()}/{self.filename}"

    def resolve(self) -> str:
        return self.uri()

    def upload(self, store: ObjectStore) -> str:
        """Put the content at :meth:`uri` unless it is already there; returns the URI."""
        data = self.data()
        uri = f"{self.code_location.rstrip('/')}/{hashlib.sha256(data).hexdigest()}/{self.filename}"
        bucket, _ = parse_s3_uri(uri)
        store.create_bucket(bucket)
        if not store.exists(uri):
            store.put_bytes(uri, data, content_type="application/octet-stream")
        return uri


class SourceArchive(_Upload):
    """``source_dir`` (or just ``entry_point``) packed as ``sourcedir.tar.gz``."""

    filename = "sourcedir.tar.gz"

    def __init__(
        self, entry_point: str, source_dir: str | None = None, code_location: str | None = None
    ) -> None:
        self.source_dir = Path(source_dir).expanduser() if source_dir else None
        self.entry_point = entry_point
        self.code_location = code_location or default_code_location()

    def program(self) -> str:
        """``sagemaker_program``: the entry point relative to the archive root."""
        return self.entry_point if self.source_dir else Path(self.entry_point).name

    def files(self) -> list[tuple[str, Path]]:
        if self.source_dir is not None:
            if not self.source_dir.is_dir():
                raise FileNotFoundError(f"source_dir {self.source_dir} is not a directory")
            files = _files(self.source_dir)
            if not any(name == self.entry_point for name, _ in files):
                raise FileNotFoundError(
                    f"entry_point {self.entry_point!r} is not in source_dir {self.source_dir}"
                )
            return files
        path = Path(self.entry_point).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"entry_point {path} does not exist")
        return [(path.name, path)]

    def data(self) -> bytes:
        return deterministic_targz(self.files())

    def __repr__(self) -> str:
        return f"SourceArchive(entry_point={self.entry_point!r}, source_dir={self.source_dir!r})"


class ScriptFile(_Upload):
    """One processing script, uploaded as itself (the job runs it from its LocalPath)."""

    def __init__(self, path: str, code_location: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.filename = self.path.name
        self.code_location = code_location or default_code_location()

    def data(self) -> bytes:
        if not self.path.is_file():
            raise FileNotFoundError(f"code {self.path} does not exist")
        return self.path.read_bytes()

    def __repr__(self) -> str:
        return f"ScriptFile({str(self.path)!r})"


class Encoded:
    """A deferred value rendered through ``encode`` (e.g. the JSON-encoded hyperparameter)."""

    def __init__(self, inner: _Upload, encode) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.encode = encode

    def resolve(self) -> str:
        return self.encode(self.inner.resolve())

    def children(self) -> list[_Upload]:
        return [self.inner]

    def upload(self, store: ObjectStore) -> str:
        return self.inner.upload(store)
