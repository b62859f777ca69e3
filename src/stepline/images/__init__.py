"""Job images: build, name, resolve.

An image is built from a folder with a Dockerfile and addressed the way SageMaker addresses
it: ``123456789012.dkr.ecr.us-east-1.amazonaws.com/NAME:TAG`` resolves to the local image
``NAME:TAG`` (no tag means ``latest``).  Every image has a content digest (``sha256:...``)
for job records.  Two builders share one registry (``$STEPLINE_HOME/images/``):

* ``process`` -- no container engine: the Python-image Dockerfile subset (``FROM python:X.Y``,
  ``RUN pip install``, ``COPY``, ``ADD``, ``ENV``, ``WORKDIR``, ``ENTRYPOINT``, ``CMD``, ``ARG``,
  ``LABEL``) becomes a cached venv (``--system-site-packages``, to reuse the host's heavy
  packages) plus a file tree; anything else is rejected with its line number.
* ``container`` -- podman (or docker) builds the real Dockerfile.

Public interface::

    build(context, tag, *, runtime="process", dockerfile="Dockerfile", build_args=None,
          log=None, store=None) -> Image
    resolve(ref) -> Image                 # name[:tag], name@sha256:.., sha256:.., ECR URI
    ensure(ref, log=None, on_build=None)  # resolve, building AWS framework images on first use
    list_images() -> list[Image]
    tag(src, dst) -> Image
    remove(ref) -> list[str]              # digests whose files were deleted
    parse_reference(ref) -> (name, tag | None, digest | None)
    Image                                 # name, tag, digest, runtime, env, entrypoint, cmd,
                                          # workdir, labels, root, venv, python, engine_ref
    ImageStore(home=None)                 # the same operations on an explicit home
    ImageError, DockerfileError, ImageNotFound
"""

from __future__ import annotations

from stepline.images.build import build
from stepline.images.errors import DockerfileError, ImageError, ImageNotFound
from stepline.images.frameworks import ensure
from stepline.images.registry import (
    Image,
    ImageStore,
    list_images,
    parse_reference,
    remove,
    resolve,
    tag,
)

__all__ = [
    "DockerfileError",
    "ensure",
    "Image",
    "ImageError",
    "ImageNotFound",
    "ImageStore",
    "build",
    "list_images",
    "parse_reference",
    "remove",
    "resolve",
    "tag",
]
