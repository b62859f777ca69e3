"""Building, naming and resolving images (process builder; real venvs and pip)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepline import images
from stepline.images import DockerfileError, ImageError, ImageNotFound, parse_reference
from stepline.images.dockerfile import logical_lines, parse, substitute

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
SIMPLE = """\
FROM python:3.11-slim
ENV GREETING=hello
COPY app.py /opt/program/app.py
WORKDIR /opt/program
ENTRYPOINT ["python", "app.py"]
"""


def test_parser_continuations_comments_and_substitution() -> None:
    text = "# c\nFROM python:3.11\nRUN pip install \\\n  # inner comment\n  a b\nENV X=1\n"
    assert logical_lines(text) == [
        (2, "FROM python:3.11"),
        (3, "RUN pip install a b"),
        (6, "ENV X=1"),
    ]
    instrs = parse("COPY --chmod=755 a /b\n")
    assert instrs[0].flags == {"chmod": "755"} and instrs[0].value == "a /b"
    assert (
        substitute("${A}-$B-${C:-dflt}-${A:+alt}-\\$A", {"A": "1", "B": "2"}) == "1-2-dflt-alt-$A"
    )


@pytest.mark.parametrize(
    "ref,expected",
    [
        (f"{ECR}/trainer:v1", ("trainer", "v1", None)),
        (f"{ECR}/team/trainer", ("team/trainer", "latest", None)),
        ("trainer", ("trainer", "latest", None)),
        ("localhost:5000/a/b:c", ("a/b", "c", None)),
        ("a@sha256:" + "0" * 64, ("a", None, "sha256:" + "0" * 64)),
    ],
)
def test_parse_reference(ref: str, expected: tuple) -> None:
    assert parse_reference(ref) == expected


@pytest.mark.parametrize("bad", ["../etc", "UPPER", "a//b", "a:b:c/..", "a:-x", "/abs", ""])
def test_hostile_names_rejected(bad: str) -> None:
    with pytest.raises(ImageError):
        parse_reference(bad)


def test_build_resolve_tag_rm_and_cache(tmp_path: Path, home: Path, make_context) -> None:
    ctx = make_context(tmp_path / "ctx", SIMPLE, {"app.py": "print('hi')\n"})
    image = images.build(ctx, "trainer:v1")
    assert image.digest.startswith("sha256:") and len(image.digest) == 71
    assert (image.root / "opt/program/app.py").read_text() == "print('hi')\n"
    assert image.workdir == "/opt/program" and image.entrypoint == ["python", "app.py"]
    assert image.env["GREETING"] == "hello"
    assert image.env["PATH"].startswith(str(image.venv / "bin"))
    cfg = (image.venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    # Warm rebuild: same digest, a lookup.
    start = time.perf_counter()
    again = images.build(ctx, "trainer:v2")
    assert again.digest == image.digest and time.perf_counter() - start < 0.5
    assert images.resolve(f"{ECR}/trainer:v1").digest == image.digest
    assert images.resolve(image.digest).digest == image.digest
    # A changed context file changes the digest.
    (ctx / "app.py").write_text("print('changed')\n")
    assert images.build(ctx, "trainer:v3").digest != image.digest
    images.tag("trainer:v1", f"{ECR}/other")
    assert images.resolve("other:latest").digest == image.digest
    assert [i.ref for i in images.list_images()] == [
        "other:latest",
        "trainer:v1",
        "trainer:v2",
        "trainer:v3",
    ]
    assert images.remove("trainer:v1") == []
    assert images.remove("trainer:v2") == []
    assert images.remove("other") == [image.digest]
    assert not image.root.exists()
    with pytest.raises(ImageNotFound):
        images.resolve("trainer:v1")
    refs = json.loads((home / "images/refs.json").read_text())
    assert list(refs) == ["trainer:v3"]


@pytest.mark.parametrize(
    "line,body",
    [
        (2, "RUN apt-get install -y curl"),
        (2, "USER nobody"),
        (2, "VOLUME /data"),
        (2, "RUN apk add --no-cache curl"),
        (2, "COPY --from=builder /a /b"),
        (2, "ADD https://example.com/x.tgz /x"),
        (2, "FROM python:3.11"),
    ],
)
def test_unsupported_instructions_name_the_line(
    tmp_path: Path, line: int, body: str, make_context
) -> None:
    ctx = make_context(tmp_path / "ctx", f"FROM python:3.11\n{body}\n")
    with pytest.raises(DockerfileError, match=rf"line {line}: .*--runtime container"):
        images.build(ctx, "x:1")


def test_non_python_from_and_missing_interpreter(tmp_path: Path, make_context) -> None:
    ctx = make_context(tmp_path / "a", "\n# base\nFROM ubuntu:22.04\n")
    with pytest.raises(DockerfileError, match="line 3: FROM ubuntu:22.04"):
        images.build(ctx, "x:1")
    ctx = make_context(tmp_path / "b", "FROM python:2.7\n")
    with pytest.raises(DockerfileError, match="no Python 2.7 interpreter"):
        images.build(ctx, "x:1")


@pytest.mark.parametrize("src", ["../secret.txt", "/../secret.txt", "link"])
def test_copy_cannot_escape_context(tmp_path: Path, src: str, make_context) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    ctx = make_context(tmp_path / "ctx", f"FROM python:3.11\nCOPY {src} /x\n")
    (ctx / "link").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(DockerfileError, match="line 2: .*(outside|not found)"):
        images.build(ctx, "x:1")


def test_copy_target_cannot_escape_root(tmp_path: Path, make_context) -> None:
    ctx = make_context(tmp_path / "ctx", "FROM python:3.11\nCOPY a ../../../../x\n", {"a": "1"})
    image = images.build(ctx, "x:1")
    assert (image.root / "x").read_text() == "1"


def test_pip_install_offline_add_tar_and_args(tmp_path: Path, make_context, make_wheel) -> None:
    ctx = tmp_path / "ctx"
    make_wheel(ctx / "wheels")
    (ctx / "data").mkdir()
    (ctx / "data/a.txt").write_text("A")
    subprocess.run(
        ["tar", "-C", str(ctx / "data"), "-cf", str(ctx / "data.tar"), "a.txt"], check=True
    )
    make_context(
        ctx,
        "ARG PKG=tinypkg\n"
        "FROM python:3.11\n"
        "ARG PKG\n"
        "COPY wheels/ /wheels/\n"
        "ADD data.tar /opt/data/\n"
        "COPY data /opt/copied\n"
        "RUN pip install --no-index --find-links /wheels ${PKG}\n"
        'LABEL maintainer="me" version=1\n'
        "CMD python -c 'import tinypkg; print(tinypkg.VALUE)'\n",
    )
    image = images.build(ctx, "pipper:1", build_args={"PKG": "tinypkg"})
    out = subprocess.run(
        [str(image.venv / "bin/python"), "-c", "import tinypkg; print(tinypkg.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith(str(image.venv))
    assert (image.root / "opt/data/a.txt").read_text() == "A"
    assert (image.root / "opt/copied/a.txt").read_text() == "A"
    assert image.labels == {"maintainer": "me", "version": "1"}
    assert image.cmd == ["/bin/sh", "-c", "python -c 'import tinypkg; print(tinypkg.VALUE)'"]


def test_failed_pip_leaves_no_image(tmp_path: Path, home: Path, make_context) -> None:
    ctx = make_context(tmp_path / "ctx", "FROM python:3.11\nRUN pip install --no-index nopkg-x\n")
    with pytest.raises(ImageError, match="RUN pip install --no-index nopkg-x failed"):
        images.build(ctx, "x:1")
    assert list((home / "images/store").iterdir()) == []


def _cli_app(monkeypatch: pytest.MonkeyPatch):
    """``stepline.cli.images.app`` loaded without ``stepline.cli``'s group registry.

    The registry imports every group, some owned by other modules; this test is about the
    images group alone.
    """
    import importlib
    import types

    import stepline

    package = types.ModuleType("stepline.cli")
    package.__path__ = [str(Path(stepline.__file__).parent / "cli")]
    for name in ("stepline.cli", "stepline.cli._common", "stepline.cli.images"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "stepline.cli", package)
    return importlib.import_module("stepline.cli.images").app


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_context) -> None:
    app = _cli_app(monkeypatch)
    ctx = make_context(tmp_path / "ctx", SIMPLE, {"app.py": "print('hi')\n"})
    runner = CliRunner()
    result = runner.invoke(app, ["build", "-t", f"{ECR}/cli:1", str(ctx)])
    assert result.exit_code == 0, result.output
    assert "built cli:1 sha256:" in result.output
    assert runner.invoke(app, ["tag", "cli:1", "cli:2"]).exit_code == 0
    listing = json.loads(runner.invoke(app, ["ls", "--json"]).output)
    assert [i["ref"] for i in listing] == ["cli:1", "cli:2"]
    assert "cli   2" in runner.invoke(app, ["ls"]).output
    assert runner.invoke(app, ["rm", "cli:2"]).exit_code == 0
    bad = make_context(tmp_path / "bad", "FROM python:3.11\nUSER x\n")
    result = runner.invoke(app, ["build", "-t", "bad", str(bad)])
    assert result.exit_code != 0 and "line 2" in str(result.exception)
