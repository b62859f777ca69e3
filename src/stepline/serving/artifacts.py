"""Model artifacts: fetch ``ModelDataUrl`` from the store and extract it safely.

A model archive is untrusted input (anyone who can write to the bucket can write it), and it
is extracted on the host, outside any sandbox.  So every member is checked before anything is
written: absolute names, ``..`` components, links whose target leaves the model folder,
devices and FIFOs are refused with the member's name, and extraction then runs under
``tarfile``'s ``data`` filter, which re-checks every path against the real file system (this
catches link chains the name check cannot see).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path

from stepline import config
from stepline.storage import ObjectStore, get_store


class UnsafeArchive(ValueError):
    """The archive has a member that would land outside the extraction folder."""


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member {name!r} would escape the model folder (..)")
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith("/"):
            raise UnsafeArchive(f"archive link {name!r} points outside the model folder: {target}")
        base = posixpath.dirname(posixpath.normpath(name)) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchive(f"archive link {name!r} points outside the model folder: {target}")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"archive member {name!r} is a device or FIFO")


def safe_extract(archive: Path, dest: Path) -> list[str]:
    """Extract a (gzipped) tar into ``dest``; :class:`UnsafeArchive` if any member escapes.

    Nothing is written when a member is refused: all members are checked first.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(member)
        try:
            tar.extractall(dest, members=members, filter="data")
        except tarfile.FilterError as exc:
            raise UnsafeArchive(f"archive refused: {exc}") from None
    return [m.name for m in members]


def _stage_inference_code(container: dict, model_dir: Path, work: Path, store: ObjectStore) -> None:
    """Put an S3 ``SAGEMAKER_SUBMIT_DIRECTORY`` (the SDK's ``sourcedir.tar.gz`` for
    ``SKLearnModel(entry_point=...)`` and friends) into ``code/`` of the model folder.

    AWS's serving containers download it themselves; here the host does it, with the same
    archive checks as the model, so a model server needs no store credentials.  The server
    of stepline's framework images looks for the program there first.  An archive that
    already carries ``code/`` (the SDK's repacked PyTorch models) is left as it is.
    """
    env = container.get("Environment") or {}
    submit = str(env.get("SAGEMAKER_SUBMIT_DIRECTORY") or "")
    if not submit.startswith("s3://") or not env.get("SAGEMAKER_PROGRAM"):
        return
    if (model_dir / "code").exists():
        return
    archive = work / "sourcedir.tar.gz"
    store.download_file(submit, archive)
    safe_extract(archive, model_dir / "code")


def model_cache(model_name: str, data_url: str) -> Path:
    """The folder a model's artifact is extracted to (keyed by model and URL)."""
    digest = hashlib.sha256(data_url.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in model_name)[:63]
    return config.home() / "serving" / "models" / f"{safe}-{digest}"


def fetch_model(
    model_name: str, container: dict, store: ObjectStore | None = None, refresh: bool = False
) -> Path:
    """The host folder to mount at ``/opt/ml/model`` for ``container`` (a ContainerDefinition).

    ``ModelDataUrl`` (a ``.tar.gz``) is downloaded and extracted once; an uncompressed
    ``ModelDataSource.S3DataSource`` prefix is staged as-is; no model data gives an empty
    folder (images that carry their model).
    """
    url = container.get("ModelDataUrl")
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    key = url or (source or {}).get("S3Uri") or ""
    target = model_cache(model_name, key)
    if target.is_dir() and not refresh:
        return target
    store = store or get_store()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".fetch-"))
    try:
        model_dir = work / "model"
        model_dir.mkdir()
        if url:
            archive = work / "model.tar.gz"
            store.download_file(url, archive)
            safe_extract(archive, model_dir)
        elif source:
            if source.get("CompressionType", "None") == "Gzip":
                archive = work / "model.tar.gz"
                store.download_file(source["S3Uri"], archive)
                safe_extract(archive, model_dir)
            else:
                store.stage(source["S3Uri"], model_dir)
        _stage_inference_code(container, model_dir, work, store)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(model_dir, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
