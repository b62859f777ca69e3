"""Images on Ray nodes: shipped through the object store, content-addressed, cached per node.

Why the object store: Ray nodes share no disk, and stepline assumes no registry.  The engine
publishes a process image once as ``s3://<image bucket>/images/<digest hex>.tar.gz`` (the
image's store folder: ``image.json``, ``root/``, ``venv/``); a node downloads it the first time
an instance needs it and keeps it in its own ``$STEPLINE_HOME/images/store/<hex>/``, where the
node's image registry finds it by digest from then on.

A process image's venv is tied to a Python installation (``--system-site-packages``: it sees
the installation's packages, and ``pyvenv.cfg`` names it).  What is shipped is the venv and the
image's files; what a node must have is the same Python installation at the same path (the
same version, with the packages jobs import from it, e.g. torch) and stepline itself.  The
venv's scripts carry absolute shebangs, so they are rewritten for the node's folder when the
image is unpacked.  Container images are not shipped (nodes pull them from a registry the
usual way), and are refused with a message saying so.

The bucket: ``STEPLINE_RAY_IMAGE_BUCKET`` or ``[runtime] image_bucket`` in config.toml
(default ``stepline-images``), created when missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from stepline import config
from stepline.images.registry import Image, ImageStore
from stepline.storage import NoSuchBucket, NoSuchKey, ObjectStore, StorageError

META = "stepline-image.json"


def image_bucket() -> str:
    """The bucket that carries images to nodes."""
    name = config.setting("runtime", "image_bucket", "STEPLINE_RAY_IMAGE_BUCKET", None)
    return str(name or "stepline-images")


def image_uri(image: Image) -> str:
    """Where ``image`` lives in the object store (named by its digest)."""
    return f"s3://{image_bucket()}/images/{image.digest.split(':', 1)[1]}.tar.gz"


def publish(store: ObjectStore, image: Image, scratch: Path) -> str:
    """Upload ``image`` unless the object store has it already; its URI."""
    if image.runtime != "process" or image.venv is None or image.root is None:
        raise ValueError(
            f"image {image.ref} is a {image.runtime} image: on Ray, only process images are "
            "shipped to nodes (push container images to a registry the nodes can pull from)"
        )
    uri = image_uri(image)
    try:
        if store.exists(uri):
            return uri
    except NoSuchBucket:
        with contextlib.suppress(StorageError):  # another engine may create it at once
            store.create_bucket(image_bucket())
    folder = image.venv.parent
    scratch.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=scratch, prefix=".image-", suffix=".tar.gz")
    os.close(fd)
    try:
        meta = json.dumps({"digest": image.digest, "folder": str(folder)}).encode()
        meta_path = Path(tmp + ".meta")
        meta_path.write_bytes(meta)
        with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
            tar.add(meta_path, arcname=META)
            for entry in sorted(folder.iterdir()):  # image.json, root/, venv/ and the rest
                tar.add(entry, arcname=entry.name)
        meta_path.unlink()
        store.put_file(uri, tmp)  # one object, written atomically
    finally:
        Path(tmp).unlink(missing_ok=True)
    return uri


def pull(store: ObjectStore, uri: str, digest: str) -> tuple[Image, bool]:
    """The image on this node, downloaded once; (image, whether it was downloaded now)."""
    images = ImageStore()
    if images.record(digest) is not None:
        return images.resolve(digest), False
    with images.lock(f"pull-{digest.split(':', 1)[1]}"):
        if images.record(digest) is not None:  # another instance on this node pulled it
            return images.resolve(digest), False
        final = images.dir_for(digest)
        work = Path(tempfile.mkdtemp(dir=images.store, prefix=".pull-"))
        try:
            archive = work / "image.tar.gz"
            try:
                store.download_file(uri, archive)
            except NoSuchKey:
                raise FileNotFoundError(f"image {digest} is missing from {uri}") from None
            unpacked = work / "image"
            with tarfile.open(archive) as tar:
                tar.extractall(unpacked, filter="tar")
            archive.unlink()
            meta = json.loads((unpacked / META).read_text())
            (unpacked / META).unlink()
            _check_python(unpacked / "venv")
            _relocate(unpacked / "venv", meta["folder"] + "/venv", str(final / "venv"))
            shutil.rmtree(final, ignore_errors=True)  # a half-written folder of a crash
            os.replace(unpacked, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return images.resolve(digest), True


def _check_python(venv: Path) -> None:
    """Fail clearly when this node lacks the Python installation the venv was made from."""
    try:
        text = (venv / "pyvenv.cfg").read_text()
    except OSError:
        return
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and not os.path.isdir(value.strip()):
            raise FileNotFoundError(
                f"this Ray node has no Python installation at {value.strip()}: process images "
                "need the engine's Python (same version, same path) on every node"
            )


def _relocate(venv: Path, old: str, new: str) -> None:
    """Point the venv's scripts (shebangs, activate) at its folder on this node."""
    if old == new:
        return
    for entry in (venv / "bin").iterdir():
        if entry.is_symlink() or not entry.is_file():
            continue
        data = entry.read_bytes()
        if old.encode() in data[:65536] and b"\0" not in data[:1024]:
            mode = entry.stat().st_mode
            entry.write_bytes(data.replace(old.encode(), new.encode()))
            entry.chmod(mode)
