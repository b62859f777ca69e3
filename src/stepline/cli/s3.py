"""``stepline s3``: copy, list and remove objects in the configured object store.

Shaped like ``aws s3``: ``cp`` (local<->s3, s3<->s3, ``-`` for stdin/stdout), ``ls``, ``rm``,
``mb``.  Results go to stdout (one line per object, or JSON with ``--json``); progress bars
go to stderr, and only when stderr is a terminal and the transfer is large, so pipes and
scripts see clean output.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from stepline.cli._common import emit_json
from stepline.storage import ObjectInfo, ObjectStore, get_store, parse_s3_uri, s3_uri
from stepline.storage.base import Progress, StorageError, safe_local_path, validate_key

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

#: Transfers smaller than this get no progress bar (it would only flicker).
PROGRESS_MIN_BYTES = 8 * 1024 * 1024


def _is_s3(path: str) -> bool:
    return path.startswith("s3://")


@contextlib.contextmanager
def _progress(total: int, label: str) -> Iterator[Progress | None]:
    """A ``progress(nbytes)`` callback drawing a rich bar on stderr, or None if not wanted."""
    if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _dir_prefix(key: str) -> str:
    """A recursive operation on ``s3://b/data`` means the folder ``data/``, as in ``aws s3``."""
    return key if not key or key.endswith("/") else key + "/"


def _local_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _say(action: str, src: str, dst: str) -> None:
    sys.stdout.write(f"{action}: {src} to {dst}\n")


def _cp_one(store: ObjectStore, src: str, dst: str) -> None:
    if _is_s3(src) and _is_s3(dst):
        _, src_key = parse_s3_uri(src)
        bucket, key = parse_s3_uri(dst, allow_prefix=True)
        if not key or key.endswith("/"):
            key += src_key.rsplit("/", 1)[-1]
        store.copy(src, s3_uri(bucket, key))
        _say("copy", src, s3_uri(bucket, key))
    elif _is_s3(dst):
        bucket, key = parse_s3_uri(dst, allow_prefix=True)
        if src == "-":
            store.put_fileobj(dst, sys.stdin.buffer)
            _say("upload", "-", dst)
            return
        path = Path(src)
        if not path.is_file():
            raise StorageError(f"not a file: {src} (use --recursive for folders)")
        if not key or key.endswith("/"):
            key += path.name
        target = s3_uri(bucket, key)
        with _progress(path.stat().st_size, path.name) as progress:
            store.put_file(target, path, progress=progress)
        _say("upload", src, target)
    elif _is_s3(src):
        if dst == "-":
            sys.stdout.buffer.write(store.get_bytes(src))
            sys.stdout.flush()
            return
        _, key = parse_s3_uri(src)
        path = Path(dst)
        if dst.endswith(("/", os.sep)) or path.is_dir():
            path = path / key.rsplit("/", 1)[-1]
        info = store.head(src)
        with _progress(info.size, path.name) as progress:
            store.download_file(src, path, progress=progress)
        _say("download", src, str(path))
    else:
        raise StorageError("at least one of SRC and DST must be an s3:// URI")


def _cp_recursive(store: ObjectStore, src: str, dst: str) -> None:
    if _is_s3(src):
        bucket, key = parse_s3_uri(src, allow_prefix=True)
        prefix = _dir_prefix(key)
        objects = [o for o in store.list(s3_uri(bucket, prefix)) if not o.key.endswith("/")]
        total = sum(o.size for o in objects)
        with _progress(total, "copying") as progress:
            for obj in objects:
                rel = obj.key[len(prefix) :]
                if _is_s3(dst):
                    dbucket, dkey = parse_s3_uri(dst, allow_prefix=True)
                    target = s3_uri(dbucket, validate_key(_dir_prefix(dkey) + rel))
                    store.copy(obj.uri, target)
                    _say("copy", obj.uri, target)
                    if progress:
                        progress(obj.size)
                else:
                    path = safe_local_path(Path(dst), rel, obj.key)
                    store.download_file(obj.uri, path, progress=progress)
                    _say("download", obj.uri, str(path))
        return
    if not _is_s3(dst):
        raise StorageError("at least one of SRC and DST must be an s3:// URI")
    root = Path(src)
    if not root.is_dir():
        raise StorageError(f"not a folder: {src}")
    total = sum(p.stat().st_size for p in _local_files(root))
    bucket, key = parse_s3_uri(dst, allow_prefix=True)
    with _progress(total, "uploading") as progress:
        infos = store.upload_dir(root, s3_uri(bucket, key), progress=progress)
    for info in infos:
        _say("upload", str(root / info.key[len(_dir_prefix(key)) :]), info.uri)


@app.command()
def cp(
    src: str = typer.Argument(..., help="Local path, s3://bucket/key, or '-' for stdin."),
    dst: str = typer.Argument(..., help="Local path, s3://bucket/key, or '-' for stdout."),
    recursive: bool = typer.Option(
        False, "--recursive", "-r", help="Copy a whole folder or prefix."
    ),
) -> None:
    """Copy files and objects: local to s3, s3 to local, or s3 to s3."""
    store = get_store()
    if recursive:
        _cp_recursive(store, src, dst)
    else:
        _cp_one(store, src, dst)


def _ls_line(info: ObjectInfo, prefix_len: int) -> str:
    name = info.key[prefix_len:]
    if info.is_prefix:
        return f"{'PRE':>30} {name}"
    when = info.last_modified.strftime("%Y-%m-%d %H:%M:%S") if info.last_modified else "-"
    return f"{when} {info.size:>10} {name}"


@app.command()
def ls(
    uri: str = typer.Argument("", help="s3://bucket/prefix; omit to list buckets."),
    recursive: bool = typer.Option(
        False, "--recursive", "-r", help="Every object under the prefix."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a listing."),
) -> None:
    """List buckets, or objects and folders under a prefix."""
    store = get_store()
    if uri in ("", "s3://"):
        names = store.list_buckets()
        if as_json:
            emit_json(names)
        else:
            sys.stdout.writelines(f"{name}\n" for name in names)
        return
    _, key = parse_s3_uri(uri, allow_prefix=True)
    entries = store.list(uri, recursive=recursive)
    if as_json:
        emit_json([e.to_dict() for e in entries])
        return
    # Like ``aws s3 ls``: names relative to the prefix's folder; full keys when recursive.
    prefix_len = 0 if recursive else key.rfind("/") + 1
    for entry in entries:
        sys.stdout.write(_ls_line(entry, prefix_len) + "\n")


@app.command()
def rm(
    uri: str = typer.Argument(..., help="s3://bucket/key, or a prefix with --recursive."),
    recursive: bool = typer.Option(
        False, "--recursive", "-r", help="Remove everything under the prefix (as a folder)."
    ),
) -> None:
    """Remove an object, or everything under a prefix."""
    store = get_store()
    if recursive:
        bucket, key = parse_s3_uri(uri, allow_prefix=True)
        target = s3_uri(bucket, _dir_prefix(key))
        for info in list(store.list(target)):
            store.delete(info.uri)
            sys.stdout.write(f"delete: {info.uri}\n")
        return
    store.delete(uri)
    sys.stdout.write(f"delete: {uri}\n")


@app.command()
def mb(bucket_uri: str = typer.Argument(..., help="s3://bucket")) -> None:
    """Make a bucket (no error if it already exists)."""
    bucket, key = parse_s3_uri(bucket_uri, allow_prefix=True)
    if key:
        raise StorageError(f"mb takes a bucket, not a key: {bucket_uri}")
    get_store().create_bucket(bucket)
    sys.stdout.write(f"make_bucket: {bucket}\n")
