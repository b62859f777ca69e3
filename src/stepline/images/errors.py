"""Errors of the image layer, all ``ValueError`` subclasses so the CLI shows them as one line."""

from __future__ import annotations


class ImageError(ValueError):
    """An image could not be built, found or changed."""


class DockerfileError(ImageError):
    """The Dockerfile is malformed or uses something the chosen runtime cannot build."""


class ImageNotFound(ImageError, LookupError):
    """No local image has that name, tag or digest."""
