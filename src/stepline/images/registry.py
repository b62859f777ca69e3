"""The local image registry under ``$STEPLINE_HOME/images/``.

Layout (JSON metadata, every write atomic: temp file + ``os.replace`` under an ``fcntl`` lock)::

    images/refs.json               {"name:tag": "sha256:..."}   -- the tags
    images/store/<hex>/image.json  the image record (config, runtime, paths)
    images/store/<hex>/root/       process runtime: COPY/ADD targets at their Dockerfile paths
    images/store/<hex>/venv/       process runtime: the virtual environment

Images are stored by content digest, so two tags of the same build share one folder and a
rebuild of unchanged inputs is a lookup.  Names never become paths (only digests do), and are
checked against Docker's reference grammar, so a hostile name cannot escape the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline import config
from stepline.images.errors import ImageError, ImageNotFound

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ECR = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<rest>.+)$"
)
_HOSTED = re.compile(
    r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*(?::\d+)?)/(?P<rest>.+)$"
)


@dataclass(frozen=True)
class Image:
    """A resolved local image: what a runtime needs to run it and what a job record keeps."""

    name: str
    tag: str
    digest: str
    runtime: str
    created: str
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    workdir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)
    #: process runtime: the file tree (COPY/ADD targets) and the virtual environment.
    root: Path | None = None
    venv: Path | None = None
    python: str | None = None
    #: container runtime: the engine's image reference (``localhost/stepline/<hex>:latest``).
    engine_ref: str | None = None
    #: AWS framework images built from stepline's recipe: the URI's versions, what was
    #: installed, and notes on what differs (see :mod:`stepline.images.frameworks`).
    framework: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``name:tag``, the local reference."""
        return f"{self.name}:{self.tag}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (for ``images ls --json`` and job records)."""
        return {
            "name": self.name,
            "tag": self.tag,
            "ref": self.ref,
            "digest": self.digest,
            "runtime": self.runtime,
            "created": self.created,
            "env": self.env,
            "entrypoint": self.entrypoint,
            "cmd": self.cmd,
            "workdir": self.workdir,
            "labels": self.labels,
            "root": str(self.root) if self.root else None,
            "venv": str(self.venv) if self.venv else None,
            "python": self.python,
            "engine_ref": self.engine_ref,
            "framework": self.framework,
        }


def parse_reference(ref: str) -> tuple[str, str | None, str | None]:
    """Split an image reference into ``(name, tag, digest)``.

    An ECR URI (``123456789012.dkr.ecr.us-east-1.amazonaws.com/name:tag``) or any other
    registry host prefix is dropped, so the URI SageMaker requests carry names the local image
    ``name:tag``.  A missing tag is ``latest`` unless a ``@sha256:`` digest is given.  A bare
    ``sha256:...`` names an image by digest.
    """
    text = ref.strip()
    if _DIGEST.match(text):
        return "", None, text
    m = _ECR.match(text)
    if m:
        text = m.group("rest")
    else:
        h = _HOSTED.match(text)
        if h and (
            "." in h.group("host") or ":" in h.group("host") or h.group("host") == "localhost"
        ):
            text = h.group("rest")
    digest = None
    if "@" in text:
        text, _, digest = text.partition("@")
        if not _DIGEST.match(digest):
            raise ImageError(f"invalid image digest in {ref!r}")
    tag = None
    name = text
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = text.rpartition(":")
        if not _TAG.match(tag):
            raise ImageError(f"invalid image tag {tag!r} in {ref!r}")
    if not _NAME.match(name) or len(name) > 255:
        raise ImageError(
            f"invalid image name {name!r} in {ref!r}: use lowercase letters, digits and "
            "separators (. _ -), with / between path components"
        )
    if tag is None and digest is None:
        tag = "latest"
    return name, tag, digest


def _atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class ImageStore:
    """The registry rooted at ``home/images`` (``$STEPLINE_HOME`` by default)."""

    def __init__(self, home: Path | None = None) -> None:
        self.root = (home or config.home()) / "images"
        self.store = self.root / "store"
        self.refs_path = self.root / "refs.json"
        self.store.mkdir(parents=True, exist_ok=True)

    # -- locking and raw records -------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str = "refs") -> Iterator[None]:
        """An exclusive cross-process lock (``fcntl.flock`` on ``images/.<name>.lock``)."""
        path = self.root / f".{name}.lock"
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _refs(self) -> dict[str, str]:
        try:
            return json.loads(self.refs_path.read_text())
        except FileNotFoundError:
            return {}

    def dir_for(self, digest: str) -> Path:
        """The store folder of a digest (validated, so it is always inside the store)."""
        if not _DIGEST.match(digest):
            raise ImageError(f"invalid digest {digest!r}")
        return self.store / digest.split(":", 1)[1]

    def record(self, digest: str) -> dict[str, Any] | None:
        """The stored ``image.json`` of a complete build, or None."""
        try:
            return json.loads((self.dir_for(digest) / "image.json").read_text())
        except FileNotFoundError:
            return None

    def write_record(self, digest: str, record: dict[str, Any]) -> None:
        """Store an image record; it is written last, so its presence marks a complete build."""
        _atomic_write_json(self.dir_for(digest) / "image.json", record)

    def _image(self, name: str, tag: str, digest: str) -> Image:
        rec = self.record(digest)
        if rec is None:
            raise ImageNotFound(f"image {name}:{tag} points at missing build {digest}")
        base = self.dir_for(digest)
        return Image(
            name=name,
            tag=tag,
            digest=digest,
            runtime=rec["runtime"],
            created=rec["created"],
            env=dict(rec.get("env") or {}),
            entrypoint=rec.get("entrypoint"),
            cmd=rec.get("cmd"),
            workdir=rec.get("workdir") or "/",
            labels=dict(rec.get("labels") or {}),
            root=base / "root" if rec["runtime"] == "process" else None,
            venv=base / "venv" if rec["runtime"] == "process" else None,
            python=rec.get("python"),
            engine_ref=rec.get("engine_ref"),
            framework=rec.get("framework"),
        )

    # -- public operations -------------------------------------------------------------

    def set_tag(self, ref: str, digest: str) -> Image:
        """Point ``ref`` (``name[:tag]`` or an ECR URI) at a stored build."""
        name, tag, _ = parse_reference(ref)
        if tag is None:
            raise ImageError(f"{ref!r}: give a tag, not a digest, to name an image")
        if self.record(digest) is None:
            raise ImageNotFound(f"no build {digest}")
        with self.lock():
            refs = self._refs()
            refs[f"{name}:{tag}"] = digest
            _atomic_write_json(self.refs_path, refs)
        return self._image(name, tag, digest)

    def resolve(self, ref: str) -> Image:
        """Find a local image by ``name[:tag]``, ``name@sha256:..``, ``sha256:..`` or ECR URI."""
        name, tag, digest = parse_reference(ref)
        refs = self._refs()
        if digest is not None:
            for key, value in sorted(refs.items()):
                n, _, t = key.rpartition(":")
                if value == digest and (not name or n == name):
                    return self._image(n, t, digest)
            if not name and self.record(digest) is not None:
                return self._image("<none>", "<none>", digest)
            raise ImageNotFound(f"no local image {ref!r}")
        found = refs.get(f"{name}:{tag}")
        if found is None:
            raise ImageNotFound(
                f"no local image {name}:{tag} (from {ref!r}); build it with "
                f"'stepline images build -t {name}:{tag} DIR'"
            )
        return self._image(name, str(tag), found)

    def list(self) -> list[Image]:
        """All tagged images, sorted by reference."""
        out = []
        for key, digest in sorted(self._refs().items()):
            name, _, tag = key.rpartition(":")
            with contextlib.suppress(ImageNotFound):
                out.append(self._image(name, tag, digest))
        return out

    def tag(self, src: str, dst: str) -> Image:
        """Give the image ``src`` the additional name ``dst``."""
        return self.set_tag(dst, self.resolve(src).digest)

    def remove(self, ref: str) -> list[str]:
        """Remove a tag; the build itself is deleted when no tag points at it any more.

        Returns the digests whose files were deleted.
        """
        image = self.resolve(ref)
        deleted: list[str] = []
        with self.lock():
            refs = self._refs()
            refs.pop(image.ref, None)
            _atomic_write_json(self.refs_path, refs)
            if image.digest not in refs.values():
                folder = self.dir_for(image.digest)
                if folder.exists():
                    trash = folder.with_name(f".trash-{folder.name}-{os.getpid()}")
                    os.replace(folder, trash)
                    shutil.rmtree(trash, ignore_errors=True)
                deleted.append(image.digest)
        if deleted and image.engine_ref:
            from stepline.images import container_engine

            container_engine.remove_image(image.engine_ref)
        return deleted


# -- the same operations on the default home ($STEPLINE_HOME) ------------------------------


def resolve(ref: str) -> Image:
    """The local image named by ``ref`` (see :func:`parse_reference`)."""
    return ImageStore().resolve(ref)


def list_images() -> list[Image]:
    """All tagged local images."""
    return ImageStore().list()


def tag(src: str, dst: str) -> Image:
    """Give image ``src`` the additional name ``dst``."""
    return ImageStore().tag(src, dst)


def remove(ref: str) -> list[str]:
    """Remove tag ``ref``; returns digests deleted because no tag pointed at them any more."""
    return ImageStore().remove(ref)
