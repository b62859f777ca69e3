"""Small real images for job, serving and tuning tests: a Dockerfile written from a dict."""

from __future__ import annotations

import textwrap
from pathlib import Path

from stepline import images

#: The registry the tests' ECR-style URIs name; any account resolves to the local image.
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

#: The label of a model image that listens on ``SAGEMAKER_BIND_TO_PORT`` (several model
#: servers side by side on one host, as the router runs them).
BIND_TO_PORT = {"com.amazonaws.sagemaker.capabilities.accept-bind-to-port": "true"}

#: ``support.model_server`` as a file of an image (``{**MODEL_SERVER, "train.py": ...}``).
MODEL_SERVER = {"model_server.py": (Path(__file__).parent / "model_server.py").read_text()}


def write_context(
    ctx: Path,
    files: dict[str, str],
    entrypoint: list[str] | None = None,
    *,
    labels: dict[str, str] | None = None,
) -> Path:
    """Write a build context ``FROM python:3.11`` with each of ``files`` copied to
    ``/opt/program/<name>`` (code dedented), and return it.

    One writer of these Dockerfiles, so the suites cannot drift in how a job image is laid
    out (SageMaker's bring-your-own-container convention: code under /opt/program)."""
    ctx.mkdir(parents=True, exist_ok=True)
    lines = ["FROM python:3.11"]
    for rel, code in files.items():
        (ctx / rel).write_text(textwrap.dedent(code))
        lines.append(f"COPY {rel} /opt/program/{rel}")
    for key, value in (labels or {}).items():
        lines.append(f"LABEL {key}={value}")
    if entrypoint is not None:
        lines.append("ENTRYPOINT [" + ", ".join(f'"{a}"' for a in entrypoint) + "]")
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    return ctx


def build_image(
    ctx: Path,
    tag: str,
    files: dict[str, str],
    entrypoint: list[str] | None = None,
    *,
    labels: dict[str, str] | None = None,
) -> str:
    """Build ``write_context``'s context into the local image ``tag`` for the process runtime
    (a cached venv lookup, ~50 ms) and return its ECR-style URI."""
    images.build(write_context(ctx, files, entrypoint, labels=labels), tag, runtime="process")
    return f"{ECR}/{tag}"
