"""Moving job data between the object store and the job folder.

Jobs only ever touch local files: inputs are staged into the job's ``/opt/ml`` tree before
the container starts (hard links on the embedded store, so no bytes are copied) and outputs
are uploaded after it exits, one atomic object at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

from stepline.storage import NoSuchKey, ObjectStore, parse_s3_uri


def stage_prefix(store: ObjectStore, uri: str, dest: Path) -> list[Path]:
    """Stage an ``S3Prefix`` input into ``dest``.

    A prefix that names a "folder" (``s3://b/data/train`` with objects under
    ``data/train/``) stages that folder's contents at the top of ``dest``: what SageMaker
    does for ``TrainingInput("s3://b/prefix/train")`` and what every training script
    reading ``$SM_CHANNEL_TRAIN/train.csv`` relies on.  Anything else (a single object, a
    partial name) follows :meth:`ObjectStore.stage`.
    """
    dest.mkdir(parents=True, exist_ok=True)
    bucket, key = parse_s3_uri(uri, allow_prefix=True)
    if key and not key.endswith("/"):
        folder = uri + "/"
        if store.list_page(folder, max_keys=1).objects:
            return store.stage(folder, dest)
    return store.stage(uri, dest)


def stage_manifest(store: ObjectStore, uri: str, dest: Path) -> list[Path]:
    """Stage a ``ManifestFile`` input: ``[{"prefix": P}, "rel1", ...]`` -> ``dest/rel1``..."""
    manifest = json.loads(store.get_bytes(uri))
    if not isinstance(manifest, list) or not manifest or "prefix" not in manifest[0]:
        raise ValueError(f"{uri} is not a SageMaker manifest ([{{'prefix': ...}}, 'key', ...])")
    prefix = manifest[0]["prefix"]
    if not isinstance(prefix, str) or not prefix.startswith("s3://"):
        raise ValueError(f"{uri}: the manifest's prefix must be an s3:// URI (got {prefix!r})")
    out = []
    for i, rel in enumerate(manifest[1:], start=1):
        # Each entry is a key relative to the prefix and becomes a path under the channel
        # folder: absolute paths, NUL and ".." are refused, the rest is normalised.
        where = f"{uri} entry {i} ({rel!r})"
        if not isinstance(rel, str) or not rel or "\x00" in rel:
            raise ValueError(f"{where}: must be a non-empty relative key")
        if rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"{where}: absolute paths and '..' are not allowed")
        target = dest / os.path.normpath(rel)
        if not os.path.realpath(target).startswith(os.path.realpath(dest) + os.sep):
            raise ValueError(f"{where}: would escape the channel folder")
        out.append(store.download_file(prefix + rel, target))
    return out


def stage_input(store: ObjectStore, uri: str, data_type: str, dest: Path) -> list[Path]:
    """Stage one input of type ``S3Prefix`` or ``ManifestFile`` into ``dest``."""
    if data_type == "ManifestFile":
        return stage_manifest(store, uri, dest)
    return stage_prefix(store, uri, dest)


def stage_if_any(store: ObjectStore, uri: str, dest: Path) -> list[Path]:
    """Like :func:`stage_prefix`, but an empty prefix stages nothing (checkpoints)."""
    try:
        return stage_prefix(store, uri, dest)
    except NoSuchKey:
        dest.mkdir(parents=True, exist_ok=True)
        return []


def inside(root: Path, path: Path) -> Path:
    """``path``, if it resolves (symlinks followed) to ``root`` or below it.

    The supervisor runs outside the sandbox: a job that turns its output folder (or a
    parent of it) into a symlink to a host folder must not make the supervisor read, upload
    or write there.  Raises :class:`ValueError` naming the path otherwise.
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ValueError(f"{path} leads outside the job folder (to {real}); not followed")
    return path


def read_text_inside(root: Path, path: Path, limit: int) -> str | None:
    """The first ``limit`` characters of a job-written file, or None (absent, or a symlink
    leading out of ``root``)."""
    try:
        inside(root, path)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (OSError, ValueError):
        return None
    with os.fdopen(fd, "rb") as fh:
        if not os.path.isfile(f"/proc/self/fd/{fd}"):
            return None
        return fh.read(limit * 4).decode("utf-8", "replace")[:limit]


def write_text_inside(root: Path, path: Path, text: str) -> None:
    """Write ``path`` atomically; a symlink the job left there is replaced, never followed."""
    inside(root, path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_FICLONE = 0x40049409  # linux/fs.h: a copy-on-write clone of a whole file


def make_private(files: list[Path]) -> str:
    """Give each staged file its own inode, so writing it cannot change a stored object.

    Staged files are hard links into the store.  A runtime that cannot put a writable layer
    over them (containers, an unsandboxed run) gets private files: copy-on-write clones where
    the file system has them (btrfs, XFS), byte copies otherwise.  Returns ``"cloned"``,
    ``"copied"`` or ``"none"`` (nothing was shared), for the job record.
    """
    import fcntl

    how = "none"
    for path in files:
        st = os.stat(path, follow_symlinks=False)
        if st.st_nlink < 2:
            continue
        tmp = path.parent / f".private-{os.urandom(8).hex()}"
        try:
            with open(path, "rb") as src, open(tmp, "xb") as dst:
                try:
                    fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
                    how = "cloned" if how != "copied" else how
                except OSError:
                    shutil.copyfileobj(src, dst, 1 << 20)
                    how = "copied"
            os.chmod(tmp, (st.st_mode & 0o777) | 0o200)  # the job's copy: writable
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return how


def make_tarball(src: Path, dest: Path) -> Path:
    """``tar czf dest -C src .`` written atomically; symlinks are stored, never followed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tar-")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            if src.is_dir():
                for entry in sorted(src.rglob("*")):
                    tar.add(entry, arcname=entry.relative_to(src).as_posix(), recursive=False)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def extract_tarball(archive: Path, dest: Path) -> None:
    """Extract a user's source tarball with the ``data`` filter (no escapes, no devices)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")


def fetch_source_dir(store: ObjectStore, location: str, dest: Path, scratch: Path) -> None:
    """Put ``sagemaker_submit_directory`` into ``dest`` (the host side of ``/opt/ml/code``).

    Like the toolkit: an ``s3://`` ``.tar.gz``, a local tarball or a local folder; nothing is
    done when ``dest`` already has files.
    """
    if dest.is_dir() and any(dest.iterdir()):
        return
    dest.mkdir(parents=True, exist_ok=True)
    if location.startswith("s3://"):
        archive = scratch / "sourcedir.tar.gz"
        store.download_file(location, archive)
        extract_tarball(archive, dest)
        archive.unlink()
        return
    path = Path(location.removeprefix("file://"))
    if path.is_dir():
        shutil.copytree(path, dest, dirs_exist_ok=True, symlinks=True)
    elif path.is_file():
        extract_tarball(path, dest)
    else:
        raise FileNotFoundError(f"sagemaker_submit_directory {location} does not exist")


def open_inside(root: Path, rel: str) -> int:
    """A read-only descriptor of the regular file ``root/rel``, no component followed as a
    symlink (``OSError`` otherwise), whatever the job does to the tree meanwhile."""
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise FileNotFoundError(rel)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(leaf).st_mode):
        os.close(leaf)
        raise OSError(f"{rel} is not a regular file")
    return leaf


def file_state(root: Path) -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime_ns)`` of the regular files under ``root``."""
    out: dict[str, tuple[int, int]] = {}
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or name.startswith(".tmp"):
                continue
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue
            out[Path(full).relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def sync_dir(
    store: ObjectStore, root: Path, prefix_uri: str, last: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """Mirror ``root`` to ``prefix_uri``: upload new or changed files, delete removed ones.

    The CheckpointConfig contract: files written under the local path appear in S3, files
    deleted locally are deleted in S3.  Returns the new state to pass next time.
    """
    now = file_state(root)
    base = prefix_uri.rstrip("/") + "/"
    for rel, stamp in now.items():
        if last.get(rel) != stamp:
            # The job runs while this syncs: it could swap a folder for a symlink between
            # the walk and the upload.  Open every component without following links.
            try:
                fd = open_inside(root, rel)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError:
                continue  # a symlink (ELOOP) or not a regular file: not the job's checkpoint
            with os.fdopen(fd, "rb") as fh:
                store.put_fileobj(base + rel, fh)
    for rel in set(last) - set(now):
        store.delete(base + rel)
    return now
