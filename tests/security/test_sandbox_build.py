"""Image builds: RUN steps run in the sandbox, not on the host (issue 10 row 13, issue 13).

The image tree is the step's writable ``/`` (so ``RUN mkdir /code`` works in the process
runtime), the venv is writable for ``pip install``, and the host is not: no home folders,
nothing of ``$STEPLINE_HOME``, no build context, read-only system folders.  A package's
``setup.py`` that writes to the host writes into the sandbox instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import sandbox_support

from stepline import images
from stepline.images.errors import DockerfileError, ImageError

home = sandbox_support.home


def _context(path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    (path / "Dockerfile").write_text(dockerfile)
    for rel, text in (files or {}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


def test_run_steps_that_touch_the_image_tree_work(home, tmp_path) -> None:
    ctx = _context(
        tmp_path / "ctx",
        "FROM python:3.11\n"
        "COPY app.py /opt/program/app.py\n"
        "RUN mkdir -p /code/sub && echo built > /code/sub/x && cp /opt/program/app.py /code/\n"
        'RUN ["chmod", "600", "/code/app.py"]\n'
        "WORKDIR /code\n"
        "RUN pwd > where && python -c 'import sys; print(sys.prefix)' > prefix\n",
        {"app.py": "print('app')\n"},
    )
    image = images.build(ctx, "tree:1")
    root = image.root
    assert (root / "code/sub/x").read_text() == "built\n"
    assert (root / "code/app.py").read_text() == "print('app')\n"
    assert oct((root / "code/app.py").stat().st_mode & 0o777) == oct(0o600)
    assert (root / "code/where").read_text() == "/code\n"
    assert (root / "code/prefix").read_text().strip() == str(image.venv)
    # The sandbox's mount points are gone: only what the Dockerfile made is in the tree.
    assert sorted(os.listdir(root)) == ["code", "opt"]


HOSTILE_SETUP = """
import os
from setuptools import setup
report = []
def shows(path):
    return os.path.exists(path) and (not os.path.isdir(path) or bool(os.listdir(path)))
for path in ("/root", "{home}", "{home}/stepline.db", "{ctx}"):
    report.append(f"{{path}}={{shows(path)}}")
for path in ("/usr/stepline-build-escape", "{host_marker}"):
    try:
        open(path, "w").write("escaped")
        report.append(f"wrote {{path}}")
    except OSError as exc:
        report.append(f"blocked {{path}}: {{type(exc).__name__}}")
open("/report.txt", "w").write("\\n".join(report))
setup(name="hostile", version="1.0", py_modules=[])
"""


def test_run_step_is_sandboxed_like_a_job(home, tmp_path) -> None:
    marker = tmp_path / "host-marker"
    (home / "secrets").mkdir(parents=True, exist_ok=True)
    (home / "stepline.db").write_bytes(b"db")
    ctx = tmp_path / "ctx"
    setup = HOSTILE_SETUP.format(home=home, ctx=ctx, host_marker=marker)
    _context(
        ctx,
        "FROM python:3.11\n"
        "COPY pkg /src/pkg\n"
        "RUN pip install --no-index --no-build-isolation /src/pkg\n",
        {"pkg/setup.py": setup},
    )
    image = images.build(ctx, "hostile:1")
    report = (image.root / "report.txt").read_text().splitlines()
    # Home folders hold nothing but the way to the Python installation (a pyenv under /root).
    base = Path(sys.base_prefix)
    if not base.is_relative_to("/root"):
        assert "/root=False" in report, report
    assert f"{home}/stepline.db=False" in report, report
    assert f"{ctx}=False" in report, report  # the build context is not visible
    assert "blocked /usr/stepline-build-escape: OSError" in report, report
    assert not Path("/usr/stepline-build-escape").exists()
    assert not marker.exists()  # written, but into the sandbox's own /tmp


def test_os_packages_without_an_engine_name_the_line_and_what_to_install(
    home, tmp_path, monkeypatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}:{os.path.dirname(sys.executable)}")
    assert shutil.which("podman") is None and shutil.which("docker") is None
    ctx = _context(tmp_path / "a", "# AWS's BYOC sample\nFROM ubuntu:22.04\nRUN apt-get update\n")
    with pytest.raises(DockerfileError) as err:
        images.build(ctx, "byoc:1")
    message = str(err.value)
    assert message.startswith("Dockerfile line 2: FROM ubuntu:22.04")
    assert "apt-get install podman runc" in message
    ctx = _context(tmp_path / "b", "FROM python:3.11\nRUN apt-get install -y curl\n")
    with pytest.raises(DockerfileError, match=r"line 2: RUN apt-get .*install podman"):
        images.build(ctx, "byoc:2")


def test_failing_run_step_names_its_line(home, tmp_path) -> None:
    ctx = _context(tmp_path / "ctx", "FROM python:3.11\n\nRUN echo no && exit 3\n")
    with pytest.raises(ImageError, match=r"Dockerfile line 3: RUN echo no && exit 3 failed \(3\)"):
        images.build(ctx, "fails:1")
