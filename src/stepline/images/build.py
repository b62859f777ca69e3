"""Building images: the process builder (a venv plus a file tree) and the container builder.

The process builder turns the Dockerfile subset a Python job image needs into:

* a virtual environment made with ``python -m venv --system-site-packages --without-pip``
  from the host interpreter matching ``FROM python:X.Y``.  ``--system-site-packages`` is the
  deliberate choice: ML jobs need heavy packages (torch, numpy) that are already installed on
  the host, and a venv that sees them only ``pip install``s the extras, in seconds and
  offline.  ``--without-pip`` keeps creation fast; ``RUN pip install`` runs the host's pip
  through the venv's interpreter (``venv/bin/python -m pip``), which installs into the venv.
* a file tree ``root/`` where each COPY/ADD target sits at its Dockerfile path
  (``COPY train.py /opt/program/`` -> ``root/opt/program/train.py``); the process runtime
  binds it so the job sees ``/opt/program``.

Builds are keyed by a digest of the Dockerfile, build args, the interpreter and every file of
the context, so rebuilding unchanged inputs is a lookup.  COPY/ADD sources are treated as
hostile: they must stay inside the build context, and targets must stay inside ``root/``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import glob
import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stepline.images import container_engine
from stepline.images import dockerfile as df
from stepline.images.errors import DockerfileError, ImageError
from stepline.images.registry import Image, ImageStore, parse_reference

FORMAT_VERSION = 1
RUNTIMES = ("process", "container")
_PROCESS_OK = {"FROM", "RUN", "COPY", "ADD", "ENV", "WORKDIR", "ENTRYPOINT", "CMD", "ARG", "LABEL"}
_HARMLESS = {"EXPOSE", "MAINTAINER"}  # metadata only: accepted and ignored by the process runtime
_FROM_PYTHON = re.compile(r"^(?:docker\.io/)?(?:library/)?python:(\d+)\.(\d+)(?:[.\-@][^\s]*)?$")

Log = Callable[[str], None]
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _suggest(line: int, what: str) -> DockerfileError:
    hint = (
        ""
        if container_engine.engine_name()
        else " (no container engine here: install podman with apt-get install podman runc, "
        "or docker)"
    )
    return DockerfileError(
        f"Dockerfile line {line}: {what} is not supported by the process runtime; "
        f"build with --runtime container to use the full Dockerfile{hint}"
    )


#: RUN steps that install OS packages: they need a distribution's base image.
_OS_PACKAGES = re.compile(
    r"(?:^|[\s;&|(])((?:apt-get|apt|aptitude|apk|yum|dnf|microdnf|zypper|dpkg|rpm))(?=\s|$)"
)


@functools.cache
def _reported_version(executable: str) -> str | None:
    try:
        proc = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def find_python(version: str) -> str:
    """An interpreter for ``X.Y``: the host's own (its base, not a venv), else ``pythonX.Y``."""
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return getattr(sys, "_base_executable", None) or sys.executable
    found = shutil.which(f"python{version}")
    if found and _reported_version(found) != version:
        found = None  # e.g. a pyenv shim for a version that is not installed
    if not found:
        host = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise DockerfileError(
            f"FROM python:{version}: no Python {version} interpreter on this machine "
            f"(the host has {host}); change FROM or use --runtime container"
        )
    return found


def context_digest(context: Path) -> str:
    """A digest of every file under ``context`` (paths, exec bits, contents, link targets)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(context):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, context)
        for name in sorted(
            filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        ):
            full = os.path.join(dirpath, name)
            rel = posixpath.normpath(posixpath.join(rel_dir, name))
            if os.path.islink(full):
                h.update(f"L {rel} {os.readlink(full)}\n".encode())
                continue
            st = os.stat(full)
            h.update(f"F {rel} {st.st_mode & 0o111:o} {st.st_size}\n".encode())
            with open(full, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


class _ProcessBuild:
    """One process-runtime build: validation first, then execution into a store folder."""

    def __init__(self, context: Path, text: str, build_args: dict[str, str], log: Log) -> None:
        self.context = context.resolve()
        self.text = text
        self.build_args = build_args
        self.log = log
        self.instructions = df.parse(text)
        self.python_version = self._validate()
        #: Where the Dockerfile was (recorded so the container fallback can rebuild it).
        self.dockerfile: str | None = None

    def _validate(self) -> str:
        """Check every instruction before any work; return the ``X.Y`` of FROM."""
        seen_from: str | None = None
        args = dict(self.build_args)
        for instr in self.instructions:
            kw = instr.keyword
            if kw not in _PROCESS_OK and kw not in _HARMLESS:
                raise _suggest(instr.line, kw)
            if kw == "ARG":
                key, eq, default = instr.value.partition("=")
                args.setdefault(key.strip(), default if eq else "")
                continue
            if kw == "FROM":
                if seen_from is not None:
                    raise _suggest(instr.line, "a second FROM (multi-stage build)")
                image = df.substitute(instr.value.split()[0] if instr.value else "", args)
                m = _FROM_PYTHON.match(image)
                if not m:
                    raise _suggest(instr.line, f"FROM {image} (only python:X.Y images)")
                seen_from = f"{m.group(1)}.{m.group(2)}"
                continue
            if seen_from is None:
                raise DockerfileError(f"Dockerfile line {instr.line}: {kw} before FROM")
            if kw == "RUN":
                found = _OS_PACKAGES.search(instr.value)
                if found:
                    raise _suggest(
                        instr.line, f"RUN {found.group(1)} (OS packages need the container runtime)"
                    )
            if kw in ("COPY", "ADD"):
                if "from" in instr.flags:
                    raise _suggest(instr.line, f"{kw} --from (multi-stage build)")
                if kw == "ADD" and re.search(r"(^|\s|\")(https?|git)://|git@", instr.value):
                    raise _suggest(instr.line, "ADD of a URL")
        if seen_from is None:
            raise DockerfileError("the Dockerfile has no FROM")
        find_python(seen_from)
        return seen_from

    def _pip_commands(self, instr: df.Instruction, variables: dict[str, str]) -> list[list[str]]:
        """The ``pip install`` argument lists of a RUN (``&&``-chained), or a clear error."""
        form = instr.exec_form()
        segments = [form] if form is not None else None
        if segments is None:
            text = df.substitute(instr.value, variables)
            segments = [df.split_words(part) for part in re.split(r"\s*&&\s*", text)]
        out = []
        for words in segments:
            words = [w for w in words if w]
            # Identify the pip launcher: "pip", "pip3", "python -m pip", "python3.11 -m pip".
            if words[:1] and re.fullmatch(r"pip3?(\.\d+)?", words[0]):
                rest = words[1:]
            elif (
                len(words) >= 3
                and re.fullmatch(r"python(3(\.\d+)?)?", words[0])
                and words[1:3] == ["-m", "pip"]
            ):
                rest = words[3:]
            else:
                rest = None
            if not rest or rest[0] != "install":
                shown = " ".join(words) if words else instr.value
                raise _suggest(instr.line, f"RUN {shown!r} (only 'pip install ...')")
            out.append(rest)
        return out

    def digest(self) -> str:
        """The build's content digest (``sha256:...``)."""
        payload = {
            "format": FORMAT_VERSION,
            "runtime": "process",
            "python": self.python_version,
            "interpreter": find_python(self.python_version),
            "dockerfile": self.text,
            "build_args": self.build_args,
            "context": context_digest(self.context),
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()

    # -- execution ---------------------------------------------------------------------

    def _target(self, root: Path, cpath: str) -> Path:
        """Host path of container path ``cpath`` inside ``root``, refusing any escape."""
        norm = posixpath.normpath("/" + cpath.lstrip("/"))
        target = root / norm.lstrip("/") if norm != "/" else root
        real_root = os.path.realpath(root)
        probe = target
        while not probe.exists() and probe != root:
            probe = probe.parent
        if os.path.commonpath([os.path.realpath(probe), real_root]) != real_root:
            raise ImageError(f"target {cpath} escapes the image root")
        return target

    def _sources(self, instr: df.Instruction, patterns: list[str]) -> list[Path]:
        ctx = str(self.context)
        out: list[Path] = []
        for pattern in patterns:
            joined = posixpath.normpath(posixpath.join(ctx, pattern.lstrip("/")))
            if os.path.commonpath([joined, ctx]) != ctx:
                raise DockerfileError(
                    f"Dockerfile line {instr.line}: {pattern!r} is outside the build context"
                )
            matches = sorted(glob.glob(joined)) if glob.has_magic(joined) else [joined]
            matches = [m for m in matches if os.path.lexists(m)]
            if not matches:
                raise DockerfileError(
                    f"Dockerfile line {instr.line}: {pattern!r} not found in the build context"
                )
            for m in matches:
                real = os.path.realpath(m)
                if os.path.commonpath([real, ctx]) != ctx:
                    raise DockerfileError(
                        f"Dockerfile line {instr.line}: {pattern!r} resolves outside the "
                        "build context"
                    )
                out.append(Path(real))
        return out

    def _copy(self, instr: df.Instruction, root: Path, workdir: str) -> None:
        words = instr.exec_form() or df.split_words(instr.value)
        if len(words) < 2:
            raise DockerfileError(f"Dockerfile line {instr.line}: {instr.keyword} needs SRC DEST")
        *patterns, dest = words
        sources = self._sources(instr, patterns)
        cdest = dest if dest.startswith("/") else posixpath.join(workdir, dest)
        as_dir = dest.endswith("/") or len(sources) > 1 or any(s.is_dir() for s in sources)
        chmod = int(instr.flags["chmod"], 8) if instr.flags.get("chmod") else None
        for src in sources:
            if instr.keyword == "ADD" and src.is_file() and tarfile.is_tarfile(src):
                target = self._target(root, cdest)
                target.mkdir(parents=True, exist_ok=True)
                with tarfile.open(src) as tar:
                    tar.extractall(target, filter="data")
                continue
            if src.is_dir():
                target = self._target(root, cdest)
                target.mkdir(parents=True, exist_ok=True)
                shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)
                if chmod is not None:
                    for p in [target, *target.rglob("*")]:
                        if not p.is_symlink():
                            p.chmod(chmod)
                continue
            cfile = posixpath.join(cdest, src.name) if as_dir or dest.endswith("/") else cdest
            target = self._target(root, cfile)
            if target.is_dir():
                target = self._target(root, posixpath.join(cfile, src.name))
            target.parent.mkdir(parents=True, exist_ok=True)
            self._target(root, cfile)  # re-check now that parents exist
            shutil.copy2(src, target)
            if chmod is not None:
                target.chmod(chmod)

    def _translate(self, root: Path, arg: str) -> str:
        """Map an absolute container path in a pip argument to the image tree, if it is there."""
        prefix, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if value.startswith("/"):
            mapped = root / posixpath.normpath(value).lstrip("/")
            if mapped.exists():
                return f"{prefix}{eq}{mapped}"
        return arg

    def execute(self, folder: Path) -> dict[str, Any]:
        """Run the build into ``folder`` (``root/`` and ``venv/``); return the image record."""
        root = folder / "root"
        venv = folder / "venv"
        root.mkdir(parents=True)
        python = find_python(self.python_version)
        subprocess.run(
            [python, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
            check=True,
            capture_output=True,
        )
        # ``pip`` in a RUN step is the venv's: the host's pip run by the venv's interpreter
        # (the venv has no pip of its own, see the module docstring).
        for name in ("pip", "pip3", f"pip{self.python_version}"):
            shim = venv / "bin" / name
            shim.write_text(f'#!/bin/sh\nexec "{venv}/bin/python" -m pip "$@"\n')
            shim.chmod(0o755)
        args = dict(self.build_args)
        # What the python:X.Y base image defines, with the venv in the place of /usr/local.
        env: dict[str, str] = {"PATH": f"{venv / 'bin'}:{_DEFAULT_PATH}", "LANG": "C.UTF-8"}
        labels: dict[str, str] = {}
        entrypoint: list[str] | None = None
        cmd: list[str] | None = None
        workdir = "/"
        for raw in self.instructions:
            variables = {**args, **env}
            instr = df.substituted(raw, variables)
            kw = instr.keyword
            if kw == "ARG":
                key, eq, default = instr.value.partition("=")
                key = key.strip()
                args[key] = self.build_args.get(key, default if eq else args.get(key, ""))
            elif kw == "ENV":
                env.update(df.parse_pairs(instr))
            elif kw == "LABEL":
                labels.update(df.parse_pairs(instr))
            elif kw == "WORKDIR":
                workdir = posixpath.normpath(posixpath.join(workdir, instr.value.strip()))
                self._target(root, workdir).mkdir(parents=True, exist_ok=True)
            elif kw == "ENTRYPOINT":
                entrypoint = df.command_form(instr)
                cmd = None  # Docker: setting ENTRYPOINT resets a CMD inherited from FROM
            elif kw == "CMD":
                cmd = df.command_form(instr)
            elif kw in ("COPY", "ADD"):
                self._copy(instr, root, workdir)
            elif kw == "RUN":
                self._run(raw, variables, venv, root, workdir, {**args, **env})
        if cmd is None and entrypoint is None:
            cmd = ["python3"]  # the python:X.Y base image's CMD
        return {
            "runtime": "process",
            "created": _now(),
            "env": env,
            "entrypoint": entrypoint,
            "cmd": cmd,
            "workdir": workdir,
            "labels": labels,
            "python": self.python_version,
            "interpreter": python,
            "build_args": self.build_args,
            "context": str(self.context),
            "dockerfile": self.dockerfile,
        }

    def _run(
        self,
        instr: df.Instruction,
        variables: dict[str, str],
        venv: Path,
        root: Path,
        workdir: str,
        env: dict[str, str],
    ) -> None:
        """One RUN step, in the build sandbox with the image tree as ``/`` (see
        ``stepline.sandbox.run_build_step``); unsandboxed (``STEPLINE_SANDBOX=none``)
        only ``pip install`` steps can run, on the host, into the venv."""
        from stepline import sandbox

        if sandbox.sandbox_mode() == "none":
            for pip_args in self._pip_commands(instr, variables):
                self._pip(venv, root, workdir, env, [self._translate(root, a) for a in pip_args])
            return
        self._target(root, workdir).mkdir(parents=True, exist_ok=True)
        form = instr.exec_form()
        argv = form if form is not None else ["/bin/sh", "-c", instr.value]
        try:
            proc = sandbox.run_build_step(argv, root, venv, workdir, sandbox.build_env(env, venv))
        except sandbox.SandboxUnavailable as exc:
            raise ImageError(
                f"Dockerfile line {instr.line}: RUN needs the build sandbox: {exc}"
            ) from None
        output = (proc.stdout + proc.stderr).strip()
        if output:
            self.log(output)
        if proc.returncode != 0:
            tail = "\n".join(output.splitlines()[-15:])
            shown = shlex.join(argv) if form is not None else instr.value
            raise ImageError(
                f"Dockerfile line {instr.line}: RUN {shown} failed ({proc.returncode}):\n{tail}"
            )

    def _pip(
        self, venv: Path, root: Path, workdir: str, env: dict[str, str], args: list[str]
    ) -> None:
        cwd = self._target(root, workdir)
        cwd.mkdir(parents=True, exist_ok=True)
        run_env = {**os.environ, **env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        run_env["VIRTUAL_ENV"] = str(venv)
        run_env["PATH"] = f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        run_env.pop("PYTHONHOME", None)
        argv = [str(venv / "bin" / "python"), "-m", "pip", *args]
        proc = subprocess.run(argv, cwd=cwd, env=run_env, capture_output=True, text=True)
        output = (proc.stdout + proc.stderr).strip()
        if output:
            self.log(output)
        if proc.returncode != 0:
            tail = "\n".join(output.splitlines()[-15:])
            raise ImageError(f"RUN pip {shlex.join(args)} failed ({proc.returncode}):\n{tail}")


def _build_process(
    store: ImageStore,
    context: Path,
    text: str,
    build_args: dict[str, str],
    log: Log,
    dockerfile: Path | None = None,
) -> str:
    build = _ProcessBuild(context, text, build_args, log)
    build.dockerfile = str(dockerfile) if dockerfile is not None else None
    digest = build.digest()
    if store.record(digest) is not None:
        log(f"cached {digest}")
        return digest
    with store.lock(f"build-{digest.split(':')[1][:16]}"):
        if store.record(digest) is not None:
            return digest
        folder = store.dir_for(digest)
        # The venv must be built in place (its scripts carry absolute paths); a folder
        # without image.json is a crashed build and is started again.
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            record = build.execute(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        store.write_record(digest, record)
    return digest


def _build_container(
    store: ImageStore, context: Path, dockerfile_path: Path, build_args: dict[str, str], log: Log
) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        iid = Path(tmp) / "iid"
        argv = ["build", "--iidfile", str(iid), "-f", str(dockerfile_path)]
        for key, value in sorted(build_args.items()):
            argv += ["--build-arg", f"{key}={value}"]
        argv.append(str(context))
        proc = container_engine.run(*argv, check=False)
        output = (proc.stdout + proc.stderr).strip()
        if output:
            log(output)
        if proc.returncode != 0:
            tail = "\n".join(output.splitlines()[-15:])
            raise ImageError(f"container build failed ({proc.returncode}):\n{tail}")
        image_id = iid.read_text().strip()
    digest = image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"
    engine_ref = f"localhost/stepline/{digest.split(':')[1]}:latest"
    container_engine.run("tag", image_id, engine_ref)
    if store.record(digest) is None:
        cfg = container_engine.inspect_image(engine_ref).get("Config") or {}
        env = dict(item.partition("=")[::2] for item in cfg.get("Env") or [])
        store.dir_for(digest).mkdir(parents=True, exist_ok=True)
        store.write_record(
            digest,
            {
                "runtime": "container",
                "created": _now(),
                "env": env,
                "entrypoint": cfg.get("Entrypoint") or None,
                "cmd": cfg.get("Cmd") or None,
                "workdir": cfg.get("WorkingDir") or "/",
                "labels": cfg.get("Labels") or {},
                "engine_ref": engine_ref,
                "build_args": build_args,
                "context": str(context),
            },
        )
    return digest


def build(
    context: Path | str,
    tag: str,
    *,
    runtime: str = "process",
    dockerfile: str = "Dockerfile",
    build_args: dict[str, str] | None = None,
    log: Log | None = None,
    store: ImageStore | None = None,
) -> Image:
    """Build ``context`` (a folder with a Dockerfile) into a local image named ``tag``.

    ``runtime`` picks the builder: ``process`` (the Python-image subset, no engine needed)
    or ``container`` (the engine builds the real Dockerfile).  ``log`` receives build output.
    """
    if runtime not in RUNTIMES:
        raise ImageError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    parse_reference(tag)  # validate the name before doing any work
    ctx = Path(context).resolve()
    if not ctx.is_dir():
        raise ImageError(f"build context {context} is not a folder")
    dockerfile_path = (ctx / dockerfile).resolve()
    if (
        os.path.commonpath([str(dockerfile_path), str(ctx)]) != str(ctx)
        and not Path(dockerfile).is_absolute()
    ):
        raise ImageError(f"Dockerfile {dockerfile} is outside the build context")
    try:
        text = dockerfile_path.read_text()
    except OSError as exc:
        raise ImageError(f"cannot read {dockerfile_path}: {exc.strerror}") from None
    store = store or ImageStore()
    say = log or (lambda _msg: None)
    if runtime == "process":
        digest = _build_process(store, ctx, text, dict(build_args or {}), say, dockerfile_path)
    else:
        digest = _build_container(store, ctx, dockerfile_path, dict(build_args or {}), say)
    return store.set_tag(tag, digest)


def rebuild_for_container(
    image: Image, *, log: Log | None = None, store: ImageStore | None = None
) -> Image:
    """The container-runtime build of a process-built ``image``, made once.

    For machines where no bubblewrap sandbox can run (see ``jobs.runtimes.process``): the
    container engine builds the Dockerfile recorded with the process build, from its context
    as it is now, and the process build's record keeps the result, so later jobs reuse it.
    The tag keeps pointing at the process build.  Raises :class:`ImageError` when the context
    or Dockerfile is gone, or the engine's build fails (e.g. ``FROM python:3.11`` cannot be
    pulled offline).
    """
    store = store or ImageStore()
    rec = store.record(image.digest)
    if rec is None or rec.get("runtime") != "process":
        raise ImageError(f"image {image.ref} is not a process-built image")
    cached = rec.get("container_build")
    if cached and store.record(cached) is not None:
        return store._image(image.name, image.tag, cached)
    context = Path(rec.get("context") or "")
    dockerfile = Path(rec.get("dockerfile") or context / "Dockerfile")
    if not context.is_dir() or not dockerfile.is_file():
        raise ImageError(
            f"image {image.ref} cannot be rebuilt for the container runtime: its build "
            f"context {context} or Dockerfile {dockerfile} is gone; build it again with "
            "--runtime container"
        )
    digest = _build_container(
        store, context, dockerfile, dict(rec.get("build_args") or {}), log or (lambda _m: None)
    )
    with store.lock(f"rebuild-{image.digest.split(':')[1][:16]}"):
        rec = store.record(image.digest) or rec
        rec["container_build"] = digest
        store.write_record(image.digest, rec)
    return store._image(image.name, image.tag, digest)


__all__ = ["build", "rebuild_for_container", "context_digest", "find_python", "RUNTIMES"]
