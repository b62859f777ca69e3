"""The embedded object store: plain files under ``$STEPLINE_HOME/objects/<bucket>/<key>``.

Why plain files: staging a job's inputs is then a hard link per object (no bytes copied, a
GiB stages in milliseconds), and the store can be inspected, backed up or wiped with
ordinary tools.  Layout::

    objects/<bucket>/<key>          object content (0644), replaced never edited
    objects/.meta/<bucket>/<key>    JSON sidecar: etag, size, inode, content type
    objects/.tmp/                   temp files; same filesystem, so os.replace is atomic

Writes go to a temp file, are fsynced, then ``os.replace``d over the key (and the parent
folder fsynced): readers see the old or the new object, never half, and a crash leaves at
worst a stray file in ``.tmp``.  The sidecar is written after the content and records the
content's inode and size; a sidecar that does not match (crash or race between the two
renames) is ignored and the ETag recomputed, so metadata is never wrong.  Because objects are
replaced rather than modified, a hard link handed to a job keeps the bytes it was staged with.

Bucket names and keys are validated (:func:`validate_bucket_name`, :func:`validate_key`)
and every resolved path is checked to stay inside its bucket, so no key -- nor a symlink
planted in the store -- reaches outside it.  A key cannot be both an object and a "folder"
of other objects here (``a`` and ``a/b``); such a write fails with a clear error.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from stepline import config
from stepline.storage.base import (
    InvalidKey,
    ListPage,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectStore,
    Progress,
    StorageError,
    guess_content_type,
    parse_s3_uri,
    validate_bucket_name,
)

if TYPE_CHECKING:
    from stepline.storage.settings import StoreSettings

CHUNK = 1024 * 1024
META_DIR = ".meta"
TMP_DIR = ".tmp"


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore(ObjectStore):
    """The embedded store rooted at ``root`` (normally ``$STEPLINE_HOME/objects``)."""

    kind = "local"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.realpath(root))
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / META_DIR).mkdir(exist_ok=True)
        (self.root / TMP_DIR).mkdir(exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- paths ----------------------------------------------------------------------------

    def _bucket_dir(self, bucket: str, *, must_exist: bool = True) -> Path:
        validate_bucket_name(bucket)
        path = self.root / bucket
        if path.is_symlink():
            raise StorageError(f"bucket {bucket!r} is a symlink in {self.root}; refusing it")
        if must_exist and not path.is_dir():
            raise NoSuchBucket(f"no such bucket: {bucket}")
        return path

    def _inside(self, base: Path, path: Path, key: str) -> Path:
        """``path`` after checking that, symlinks resolved, it stays under ``base``."""
        real = os.path.realpath(path)
        if not real.startswith(str(base) + os.sep):
            raise InvalidKey(f"invalid key {key!r}: resolves outside bucket {base.name!r}")
        return path

    def _paths(self, uri: str) -> tuple[str, str, Path, Path]:
        """(bucket, key, content path, sidecar path) for an object URI."""
        bucket, key = parse_s3_uri(uri)
        if key.endswith("/"):
            raise InvalidKey(f"invalid key {key!r}: object keys cannot end with '/'")
        bdir = self._bucket_dir(bucket)
        data = self._inside(bdir, bdir / key, key)
        meta_base = self.root / META_DIR / bucket
        return bucket, key, data, meta_base / key

    def _tmpfile(self) -> tuple[int, str]:
        return tempfile.mkstemp(dir=self.root / TMP_DIR, prefix="put-")

    # -- buckets --------------------------------------------------------------------------

    def create_bucket(self, name: str) -> None:
        bdir = self._bucket_dir(name, must_exist=False)
        bdir.mkdir(exist_ok=True)
        (self.root / META_DIR / name).mkdir(exist_ok=True)

    def list_buckets(self) -> list[str]:
        names = []
        for entry in os.scandir(self.root):
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                names.append(validate_bucket_name(entry.name))
            except StorageError:
                continue
        return sorted(names)

    # -- writing --------------------------------------------------------------------------

    def _install(self, tmp: str, dest: Path, key: str) -> None:
        """Atomically move ``tmp`` to ``dest``, creating parent folders."""
        for _ in range(5):  # a concurrent delete may prune a parent folder in between
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise InvalidKey(
                    f"invalid key {key!r}: a parent of it is already an object in this store"
                ) from None
            if dest.is_dir() and not dest.is_symlink():
                raise InvalidKey(
                    f"invalid key {key!r}: it is already a prefix of other objects in this store"
                )
            try:
                os.replace(tmp, dest)
            except FileNotFoundError:
                continue
            _fsync_dir(dest.parent)
            return
        raise StorageError(f"could not store {key!r}: its folder kept disappearing")

    def _write_meta(self, meta_path: Path, key: str, meta: dict) -> None:
        fd, tmp = self._tmpfile()
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(meta, fh)
                fh.flush()
                os.fsync(fh.fileno())
            self._install(tmp, meta_path, key)
        except BaseException:
            _unlink_quietly(tmp)
            raise

    def put_fileobj(
        self,
        uri: str,
        fileobj: BinaryIO,
        content_type: str | None = None,
        progress: Progress | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        bucket, key, data_path, meta_path = self._paths(uri)
        content_type = content_type or guess_content_type(key)
        user = dict(metadata or {})
        fd, tmp = self._tmpfile()
        md5 = hashlib.md5()
        try:
            _write_synced(fd, fileobj, progress, md5.update)
            # Owner-writable: a job (root only in its sandbox's user namespace, without
            # CAP_DAC_OVERRIDE) writes its input as on SageMaker; its writes go to an overlay
            # upper layer, never through the hard link (jobs.staging, runtimes.process).
            os.chmod(tmp, 0o644)
            st = os.stat(tmp)
            self._install(tmp, data_path, key)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        etag = md5.hexdigest()
        meta = {"etag": etag, "size": st.st_size, "ino": st.st_ino, "content_type": content_type}
        if user:
            meta["metadata"] = user
        self._write_meta(meta_path, key, meta)
        return ObjectInfo(bucket, key, st.st_size, etag, _mtime(st), content_type, metadata=user)

    def put_bytes(
        self,
        uri: str,
        data: bytes,
        content_type: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        return self.put_fileobj(uri, io.BytesIO(data), content_type, metadata=metadata)

    def copy(
        self,
        src_uri: str,
        dst_uri: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        # Objects are never modified in place, so the copy can share the inode.
        src = self.head(src_uri)
        _, _, src_path, src_meta = self._paths(src_uri)
        bucket, key, data_path, meta_path = self._paths(dst_uri)
        tmp = os.path.join(self.root / TMP_DIR, f"copy-{os.urandom(8).hex()}")
        try:
            os.link(src_path, tmp, follow_symlinks=False)
            st = os.stat(tmp)
            self._install(tmp, data_path, key)
        except FileNotFoundError:
            _unlink_quietly(tmp)
            raise NoSuchKey(f"no such key: {src_uri}") from None
        except BaseException:
            _unlink_quietly(tmp)
            raise
        if metadata is None:
            user, ctype = dict(src.metadata), src.content_type
        else:
            user, ctype = dict(metadata), content_type or guess_content_type(key)
        meta = {"etag": src.etag, "size": st.st_size, "ino": st.st_ino, "content_type": ctype}
        if user:
            meta["metadata"] = user
        self._write_meta(meta_path, key, meta)
        return ObjectInfo(bucket, key, st.st_size, src.etag, _mtime(st), ctype, metadata=user)

    def delete(self, uri: str) -> None:
        bucket, key, data_path, meta_path = self._paths(uri)
        if data_path.is_dir() and not data_path.is_symlink():
            return  # a "folder" of other objects, not an object: nothing to delete (as S3)
        _unlink_quietly(data_path)
        _unlink_quietly(meta_path)
        self._prune(data_path.parent, self.root / bucket)
        self._prune(meta_path.parent, self.root / META_DIR / bucket)

    @staticmethod
    def _prune(folder: Path, stop: Path) -> None:
        """Remove now-empty folders up to (not including) ``stop``."""
        while folder != stop and stop in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    # -- reading --------------------------------------------------------------------------

    def _open(self, uri: str) -> tuple[str, str, int, Path]:
        bucket, key, data_path, meta_path = self._paths(uri)
        try:
            fd = os.open(data_path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise NoSuchKey(f"no such key: {uri}") from None
        except NotADirectoryError:
            raise NoSuchKey(f"no such key: {uri}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InvalidKey(f"invalid key {key!r}: is a symlink in the store") from None
            raise
        return bucket, key, fd, meta_path

    def _info(
        self, bucket: str, key: str, st: os.stat_result, meta_path: Path, fd: int | None = None
    ) -> ObjectInfo:
        meta = _read_meta(meta_path)
        user: dict[str, str] = {}
        if meta and meta.get("ino") == st.st_ino and meta.get("size") == st.st_size:
            etag, ctype = meta["etag"], meta.get("content_type")
            stored = meta.get("metadata")
            if isinstance(stored, dict):
                user = {str(k): str(v) for k, v in stored.items()}
        else:  # no or stale sidecar (crash or concurrent write between the two renames)
            etag, ctype = _md5_of(fd, self.root / bucket / key), guess_content_type(key)
        return ObjectInfo(bucket, key, st.st_size, etag, _mtime(st), ctype, metadata=user)

    def head(self, uri: str) -> ObjectInfo:
        bucket, key, fd, meta_path = self._open(uri)
        try:
            st = os.fstat(fd)
            if not _is_reg(st):
                raise NoSuchKey(f"no such key: {uri}")
            return self._info(bucket, key, st, meta_path, fd)
        finally:
            os.close(fd)

    def get_bytes(self, uri: str) -> bytes:
        _, _, fd, _ = self._open(uri)
        with os.fdopen(fd, "rb") as fh:
            if not _is_reg(os.fstat(fh.fileno())):
                raise NoSuchKey(f"no such key: {uri}")
            return fh.read()

    def download_file(
        self, uri: str, path: str | os.PathLike[str], progress: Progress | None = None
    ) -> Path:
        _, _, fd, _ = self._open(uri)
        dest = Path(path)
        with os.fdopen(fd, "rb") as src:
            if not _is_reg(os.fstat(src.fileno())):
                raise NoSuchKey(f"no such key: {uri}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            tfd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
            try:
                _write_synced(tfd, src, progress)
                os.chmod(tmp, 0o644)
                os.replace(tmp, dest)
            except BaseException:
                _unlink_quietly(tmp)
                raise
        return dest

    # -- listing --------------------------------------------------------------------------

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key starting with ``prefix``, in UTF-8 byte order."""
        bdir = self._bucket_dir(bucket)
        start = bdir / prefix[: prefix.rfind("/") + 1]
        if not start.is_dir() or start.is_symlink():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
            rel_dir = os.path.relpath(dirpath, bdir)
            for name in filenames:
                key = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                if key.startswith(prefix) and not os.path.islink(os.path.join(dirpath, name)):
                    keys.append(key)
        keys.sort(key=_utf8)
        return keys

    def list_page(
        self,
        prefix_uri: str,
        delimiter: str | None = None,
        max_keys: int = 1000,
        continuation_token: str | None = None,
    ) -> ListPage:
        bucket, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
        page = ListPage()
        if max_keys <= 0:
            return page
        after = _utf8(continuation_token) if continuation_token else None
        last_prefix: str | None = None
        last_key = ""
        last_entry_was_prefix = False
        count = 0
        for key in self._keys(bucket, prefix):
            if after is not None:
                if _utf8(key) <= after:
                    continue
                if delimiter and continuation_token.endswith(delimiter):
                    if key.startswith(continuation_token):
                        continue
            entry_prefix = None
            if delimiter:
                idx = key.find(delimiter, len(prefix))
                if idx >= 0:
                    entry_prefix = key[: idx + len(delimiter)]
                    if entry_prefix == last_prefix:
                        continue
            if count >= max_keys:
                page.next_token = last_prefix if last_entry_was_prefix else last_key
                break
            if entry_prefix is not None:
                page.common_prefixes.append(entry_prefix)
                last_prefix, last_entry_was_prefix = entry_prefix, True
            else:
                page.objects.append(self._list_info(bucket, key))
                last_key, last_entry_was_prefix = key, False
            count += 1
        return page

    def _list_info(self, bucket: str, key: str) -> ObjectInfo:
        path = self.root / bucket / key
        st = os.stat(path, follow_symlinks=False)
        return self._info(bucket, key, st, self.root / META_DIR / bucket / key)

    # -- jobs -----------------------------------------------------------------------------

    def stage(self, prefix_uri: str, dest_dir: str | os.PathLike[str]) -> list[Path]:
        """Hard-link each object into ``dest_dir`` (copy only across filesystems)."""
        bucket, _ = parse_s3_uri(prefix_uri, allow_prefix=True)
        dest_root = Path(dest_dir)
        dest_root.mkdir(parents=True, exist_ok=True)
        staged = []
        for info, target in self._stage_targets(prefix_uri, dest_root):
            source = self._inside(self.root / bucket, self.root / bucket / info.key, info.key)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.parent / f".stage-{os.urandom(8).hex()}"
            try:
                try:
                    os.link(source, tmp, follow_symlinks=False)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                        raise
                    shutil.copyfile(source, tmp, follow_symlinks=False)
                os.replace(tmp, target)
            except FileNotFoundError:
                _unlink_quietly(tmp)
                raise NoSuchKey(f"object vanished while staging: {info.uri}") from None
            except BaseException:
                _unlink_quietly(tmp)
                raise
            staged.append(target)
        return staged


# -- helpers ------------------------------------------------------------------------------


def _is_reg(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, tz=UTC)


def _read_meta(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _write_synced(
    fd: int,
    source: BinaryIO,
    progress: Progress | None,
    digest: Callable[[bytes], object] | None = None,
) -> None:
    """Copy ``source`` into the file open at ``fd`` (closing it) and fsync it, so that the
    rename that then publishes the file can never expose a torn or empty object after a
    crash.  ``progress`` hears each chunk's size; ``digest`` (a hash's ``update``) its bytes."""
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            if digest is not None:
                digest(chunk)
            out.write(chunk)
            if progress:
                progress(len(chunk))
        out.flush()
        os.fsync(out.fileno())


def _md5_of(fd: int | None, path: Path) -> str:
    md5 = hashlib.md5()
    if fd is not None:
        pos = 0
        while chunk := os.pread(fd, CHUNK, pos):
            md5.update(chunk)
            pos += len(chunk)
    else:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                md5.update(chunk)
    return md5.hexdigest()


def _unlink_quietly(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        pass


def from_settings(settings: StoreSettings) -> LocalStore:
    """The embedded store, in ``$STEPLINE_HOME/objects`` (the ``local`` backend)."""
    return LocalStore(config.home() / "objects")
