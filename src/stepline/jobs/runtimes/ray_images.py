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
image is unpacked.

A container image (built by podman) is shipped the same way: the archive holds its record
and ``podman save --format oci-archive`` of the engine's image; a node that lacks the image
(no record, or its engine no longer has it) runs ``podman load`` once and tags the result
as the record names it.  A node needs podman (with runc) for container images.

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
from stepline.images import container_engine
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


#: The container image's OCI archive inside a shipped image.
OCI_ARCHIVE = "image.oci.tar"


def publish(store: ObjectStore, image: Image, scratch: Path) -> str:
    """Upload ``image`` unless the object store has it already; its URI."""
    folder = _image_folder(image)
    uri = image_uri(image)
    try:
        if store.exists(uri):
            return uri
    except NoSuchBucket:
        with contextlib.suppress(StorageError):  # another engine may create it at once
            store.create_bucket(image_bucket())
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=scratch, prefix=".image-"))
    try:
        meta = {"digest": image.digest, "folder": str(folder), "runtime": image.runtime}
        (work / META).write_text(json.dumps(meta))
        archive = work / "image.tar.gz"
        with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
            tar.add(work / META, arcname=META)
            for entry in sorted(folder.iterdir()):  # image.json, root/, venv/ and the rest
                tar.add(entry, arcname=entry.name)
            if image.runtime == "container":
                oci = work / OCI_ARCHIVE
                assert image.engine_ref is not None
                container_engine.run(
                    "save", "--format", "oci-archive", "-o", str(oci), image.engine_ref
                )
                tar.add(oci, arcname=OCI_ARCHIVE)
        store.put_file(uri, archive)  # one object, written atomically
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return uri


def _image_folder(image: Image) -> Path:
    """The image's folder in the local store; a ValueError for what cannot be shipped."""
    if image.runtime == "process" and image.venv is not None and image.root is not None:
        return image.venv.parent
    if image.runtime == "container" and image.engine_ref:
        return ImageStore().dir_for(image.digest)
    raise ValueError(
        f"image {image.ref} is a {image.runtime} image without its files here: it cannot be "
        "shipped to Ray nodes"
    )


def _cached(images: ImageStore, digest: str) -> bool:
    """Whether this node has the image (a container image: its engine has it too)."""
    if images.record(digest) is None:
        return False
    image = images.resolve(digest)
    return image.runtime != "container" or container_engine.image_exists(str(image.engine_ref))


def pull(store: ObjectStore, uri: str, digest: str) -> tuple[Image, bool]:
    """The image on this node, downloaded once; (image, whether it was downloaded now)."""
    images = ImageStore()
    if _cached(images, digest):
        return images.resolve(digest), False
    with images.lock(f"pull-{digest.split(':', 1)[1]}"):
        if _cached(images, digest):  # another instance on this node pulled it
            return images.resolve(digest), False
        final = images.dir_for(digest)
        work = Path(tempfile.mkdtemp(dir=images.store, prefix=".pull-"))
        try:
            unpacked = _download(store, uri, digest, work)
            meta = json.loads((unpacked / META).read_text())
            (unpacked / META).unlink()
            if meta.get("runtime", "process") == "container":
                _load_container(unpacked, digest)
            else:
                _check_python(unpacked / "venv")
                _relocate(unpacked / "venv", meta["folder"] + "/venv", str(final / "venv"))
            shutil.rmtree(final, ignore_errors=True)  # a half-written folder of a crash
            os.replace(unpacked, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return images.resolve(digest), True


def _download(store: ObjectStore, uri: str, digest: str, work: Path) -> Path:
    """The shipped image, unpacked under ``work``."""
    archive = work / "image.tar.gz"
    try:
        store.download_file(uri, archive)
    except NoSuchKey:
        raise FileNotFoundError(f"image {digest} is missing from {uri}") from None
    unpacked = work / "image"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="tar")
    archive.unlink()
    return unpacked


def _load_container(unpacked: Path, digest: str) -> None:
    """``podman load`` the shipped OCI archive and tag it as the image's record names it
    (which must be the name stepline gives that digest: the archive is not trusted)."""
    record = json.loads((unpacked / "image.json").read_text())
    engine_ref = f"localhost/stepline/{digest.split(':', 1)[1]}:latest"
    if record.get("engine_ref") != engine_ref or record.get("runtime") != "container":
        raise ValueError(f"the shipped image {digest} is not the container image it claims")
    oci = unpacked / OCI_ARCHIVE
    loaded = container_engine.run("load", "-q", "-i", str(oci)).stdout
    # "Loaded image: REF" (podman prints the reference, or the image id for a nameless one)
    ref = loaded.strip().splitlines()[-1].split(":", 1)[1].strip()
    if ref != engine_ref:
        container_engine.run("tag", ref, engine_ref)
    oci.unlink()


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
