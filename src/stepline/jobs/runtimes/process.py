"""The process runtime: a process-built image run in a bubblewrap sandbox.

Layout inside the sandbox (``bwrap``, as root; no container engine):

* the host's top-level folders are bound read-only; folders that must gain entries (``/opt``
  for ``/opt/ml``, or e.g. ``/etc`` when the image COPY'd a file there) become a tmpfs in which
  the host's entries are bound again, so nothing of the host disappears;
* the image's files sit at their Dockerfile paths (``/opt/program``), read-only;
* the job's mounts (``/opt/ml`` ...) are bound last, at their container paths;
* ``/tmp`` is the run's scratch folder (or a tmpfs); ``/proc`` and ``/dev`` are fresh, GPU
  devices are passed through; ``network=False`` adds ``--unshare-net``;
* ``RunSpec.ports`` need nothing: the sandbox shares the host's network namespace, so a
  server binding ``127.0.0.1:PORT`` is already reachable there (the list is not used; with
  ``network=False`` the port would be in the private namespace and unreachable, which is why
  serving keeps the network);
* the image venv is visible at its own path (its scripts carry absolute shebangs) and its
  ``bin`` is first on PATH; WORKDIR is the working directory.

Without bubblewrap (not installed, or ``STEPLINE_SANDBOX=none``) the job runs as a plain
subprocess: a warning is issued and ``Prepared.sandboxed`` is False so the job record can say
so.  The container paths then do not exist; arguments, environment values and the working
directory that name a container path are rewritten to the host path behind it, and
``Prepared.paths`` tells the job layer the mapping.

Exit codes of sandboxed runs come from ``bwrap --json-status-fd`` written to a file, so a
handle reattached after an engine restart still learns how the job ended.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import shutil
import signal
import subprocess
import uuid
import warnings
from pathlib import Path

from stepline import config
from stepline.jobs.runtimes.base import (
    Prepared,
    RunHandle,
    RunSpec,
    Runtime,
    exit_code,
    host_path,
    process_start_time,
    signal_group,
)

#: Exit code reported for a reattached unsandboxed run whose status was lost.
UNKNOWN_EXIT = 255
_SPECIAL = {"proc", "dev", "tmp"}
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SandboxWarning(UserWarning):
    """Jobs run without a sandbox (bubblewrap missing or disabled)."""


@functools.cache
def _bwrap_works(path: str) -> bool:
    try:
        proc = subprocess.run(
            [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def sandbox_command() -> str | None:
    """The bwrap binary to use, or None (missing, broken, or ``STEPLINE_SANDBOX=none``)."""
    if os.environ.get("STEPLINE_SANDBOX", "").lower() in ("none", "off", "0"):
        return None
    path = shutil.which("bwrap")
    if path and _bwrap_works(path):
        return path
    return None


def _runs_dir() -> Path:
    path = config.home() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _placements(root: Path) -> dict[str, Path]:
    """Container path -> image tree path for each image entry the host does not already have.

    Folders present on both sides are descended into, so the image adds to ``/etc`` rather
    than hiding it.
    """
    out: dict[str, Path] = {}

    def walk(rel: str) -> None:
        base = root / rel.lstrip("/") if rel != "/" else root
        for entry in sorted(os.listdir(base)):
            cpath = posixpath.join(rel, entry)
            img = base / entry
            host = Path(cpath)
            if (
                img.is_dir()
                and not img.is_symlink()
                and host.is_dir()
                and not host.is_symlink()
                and cpath.strip("/") not in _SPECIAL
            ):
                walk(cpath)
            else:
                out[cpath] = img

    if root.is_dir():
        walk("/")
    return out


def _translate(value: str, paths: dict[str, Path]) -> str:
    """Rewrite container paths in ``value`` (also ``:``-separated lists) to host paths."""
    parts = value.split(":") if ":" in value and value.startswith("/") else [value]
    out = []
    for part in parts:
        mapped = host_path(paths, part) if part.startswith("/") else None
        out.append(str(mapped) if mapped is not None else part)
    return ":".join(out)


class ProcessRuntime(Runtime):
    """Runs process-built images (see the module docstring for the sandbox layout)."""

    name = "process"

    def available(self) -> bool:
        """Always: without bubblewrap it falls back to a plain subprocess."""
        return True

    # -- preparation -------------------------------------------------------------------

    def _argv(self, spec: RunSpec) -> list[str]:
        image = spec.image
        entrypoint = spec.entrypoint if spec.entrypoint is not None else image.entrypoint or []
        if spec.command is not None:
            command = spec.command
        elif spec.entrypoint is not None:
            command = []  # Docker: overriding ENTRYPOINT drops the image's CMD
        else:
            command = image.cmd or []
        argv = [*entrypoint, *command]
        if not argv:
            raise ValueError(f"image {image.ref} has no ENTRYPOINT or CMD and none was given")
        return argv

    def _env(self, spec: RunSpec) -> dict[str, str]:
        image = spec.image
        env = {
            "PATH": _DEFAULT_PATH,
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(image.env)
        if image.venv is not None:
            venv_bin = str(image.venv / "bin")
            path = env.get("PATH", _DEFAULT_PATH).split(":")
            if venv_bin not in path:
                path.insert(0, venv_bin)
            env["PATH"] = ":".join(path)
            env["VIRTUAL_ENV"] = str(image.venv)
        res = spec.resources
        if res is not None and (res.gpu_ids or res.gpus == 0):
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in res.gpu_ids)
        env.update(spec.env)
        return env

    def prepare(self, spec: RunSpec) -> Prepared:
        """The command line (bwrap or plain), environment, working directory and paths."""
        image = spec.image
        if image.runtime != "process" or image.root is None:
            raise ValueError(
                f"image {image.ref} was built for the {image.runtime} runtime; "
                "run it with that runtime"
            )
        argv = self._argv(spec)
        env = self._env(spec)
        placements = _placements(image.root)
        paths: dict[str, Path] = dict(placements)
        for m in spec.mounts:
            paths[posixpath.normpath(m.target)] = Path(m.host)
        bwrap = sandbox_command()
        notes: list[str] = []
        res = spec.resources
        if res is not None:
            notes.append(
                "process runtime: memory is not enforced (the scheduler keeps jobs within "
                "the machine); CPUs are set by affinity"
            )
        if bwrap is None:
            msg = (
                "bubblewrap (bwrap) is not available"
                if os.environ.get("STEPLINE_SANDBOX", "").lower() not in ("none", "off", "0")
                else "STEPLINE_SANDBOX=none"
            )
            warning = (
                f"{msg}: running {image.ref} as a plain subprocess without a sandbox; "
                "container paths are mapped to host folders"
                + ("" if spec.network else " and network isolation is NOT applied")
            )
            warnings.warn(warning, SandboxWarning, stacklevel=3)
            if spec.scratch is not None:
                paths["/tmp"] = Path(spec.scratch)
            argv = [_translate(a, paths) for a in argv]
            env = {k: _translate(v, paths) for k, v in env.items()}
            if spec.scratch is not None:
                env.setdefault("TMPDIR", str(spec.scratch))
            cwd = str(host_path(paths, image.workdir) or image.workdir)
            if not os.path.isdir(cwd):
                cwd = str(spec.log_path.parent)
            return Prepared(argv, env, cwd, paths, False, [warning], notes)
        wrapper = self._bwrap_args(bwrap, spec, placements)
        if spec.scratch is not None:
            paths["/tmp"] = Path(spec.scratch)
        return Prepared([*wrapper, "--", *argv], env, "/", paths, True, [], notes)

    def _bwrap_args(self, bwrap: str, spec: RunSpec, placements: dict[str, Path]) -> list[str]:
        image = spec.image
        mounts = [(posixpath.normpath(m.target), m) for m in spec.mounts]
        # Folders that must gain entries the host lacks become tmpfs with host entries re-bound.
        explode: set[str] = {"/"}
        targets = list(placements) + [t for t, _ in mounts]
        for target in targets:
            parent = posixpath.dirname(target)
            while parent not in explode:
                if parent.strip("/").split("/")[0] in _SPECIAL:
                    break
                if not os.path.isdir(parent) or os.path.islink(parent):
                    break
                explode.add(parent)
                parent = posixpath.dirname(parent)
        covered = set(placements) | {t for t, _ in mounts}
        args = [bwrap]

        def emit(cdir: str) -> None:
            for name in sorted(os.listdir(cdir)):
                cpath = posixpath.join(cdir, name)
                if cpath in covered:
                    continue
                if cdir == "/" and name in _SPECIAL:
                    continue
                if os.path.islink(cpath):
                    args.extend(["--symlink", os.readlink(cpath), cpath])
                elif cpath in explode:
                    args.extend(["--tmpfs", cpath])
                    emit(cpath)
                else:
                    args.extend(["--ro-bind", cpath, cpath])

        emit("/")
        args.extend(["--proc", "/proc", "--dev", "/dev"])
        for dev in sorted(os.listdir("/dev")):
            if dev.startswith("nvidia"):
                args.extend(["--dev-bind", f"/dev/{dev}", f"/dev/{dev}"])
        if spec.scratch is not None:
            Path(spec.scratch).mkdir(parents=True, exist_ok=True)
            args.extend(["--bind", str(spec.scratch), "/tmp"])
        else:
            args.extend(["--tmpfs", "/tmp"])
        for cpath, src in sorted(placements.items()):
            args.extend(["--ro-bind", str(src), cpath])
        if image.venv is not None and str(image.venv).startswith("/tmp/"):
            args.extend(["--ro-bind", str(image.venv), str(image.venv)])
        for target, m in sorted(mounts, key=lambda item: item[0].count("/")):
            if not Path(m.host).is_file():  # a file is bound as is (e.g. /etc/hosts)
                Path(m.host).mkdir(parents=True, exist_ok=True)
            args.extend(["--ro-bind" if m.read_only else "--bind", str(m.host), target])
        if not spec.network:
            args.append("--unshare-net")
        args.extend(["--unshare-ipc", "--chdir", image.workdir or "/"])
        return args

    # -- running -----------------------------------------------------------------------

    def start(self, spec: RunSpec) -> ProcessHandle:
        """Start the run; stdout and stderr go straight to ``spec.log_path``."""
        prepared = self.prepare(spec)
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        run_id = spec.name or uuid.uuid4().hex
        status_path = _runs_dir() / f"{uuid.uuid4().hex}.status"
        res = spec.resources
        cpus = None
        if res is not None and res.cpus < (os.cpu_count() or 1):
            available = sorted(os.sched_getaffinity(0))
            cpus = set(available[: max(1, int(res.cpus + 0.999))])
        preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        argv = list(prepared.argv)
        status_fd = None
        with open(spec.log_path, "ab", buffering=0) as log:
            if prepared.sandboxed:
                status_fd = os.open(status_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                argv[1:1] = ["--json-status-fd", str(status_fd)]
            try:
                popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=prepared.env,
                    cwd=prepared.cwd,
                    start_new_session=True,
                    pass_fds=(status_fd,) if status_fd is not None else (),
                    preexec_fn=preexec,
                )
            finally:
                if status_fd is not None:
                    os.close(status_fd)
        handle = ProcessHandle(
            popen.pid,
            process_start_time(popen.pid) or "",
            status_path if prepared.sandboxed else None,
            popen,
        )
        handle.prepared = prepared
        handle.name = run_id
        return handle

    def reattach(self, identifier: str) -> ProcessHandle:
        """A handle from :attr:`ProcessHandle.identifier`."""
        data = json.loads(identifier)
        status = data.get("status")
        return ProcessHandle(
            int(data["pid"]), str(data["start"]), Path(status) if status else None, None
        )


class ProcessHandle(RunHandle):
    """A run of the process runtime (the process group of ``bwrap`` or the job itself)."""

    def __init__(
        self,
        pid: int,
        start: str,
        status_path: Path | None,
        popen: subprocess.Popen | None,
    ) -> None:
        self.pid = pid
        self.start = start
        self.status_path = status_path
        self._popen = popen
        self._code: int | None = None
        self.name: str | None = None
        self.identifier = json.dumps(
            {"pid": pid, "start": start, "status": str(status_path) if status_path else None}
        )

    @property
    def sandboxed(self) -> bool:
        """Whether the job runs inside bubblewrap."""
        return self.status_path is not None

    def _status_code(self) -> int | None:
        if self.status_path is None:
            return None
        try:
            text = self.status_path.read_text()
        except OSError:
            return None
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if "exit-code" in doc:
                    return int(doc["exit-code"])
        return None

    def _child_pid(self) -> int | None:
        if self.status_path is None:
            return None
        try:
            first = self.status_path.read_text().splitlines()[0]
            return int(json.loads(first)["child-pid"])
        except (OSError, IndexError, KeyError, ValueError):
            return None

    def _finish(self, code: int) -> int:
        self._code = code
        # Like a container exiting: whatever the job left running in its group goes too.
        signal_group(self.pid, signal.SIGKILL)
        if self.status_path is not None:
            try:
                self.status_path.unlink()
            except FileNotFoundError:
                pass
        return code

    def poll(self) -> int | None:
        """The exit code, or None while the job runs."""
        if self._code is not None:
            return self._code
        if self._popen is not None:
            status = self._popen.poll()
            if status is None:
                return None
            code = self._status_code()
            return self._finish(code if code is not None else exit_code(status))
        if process_start_time(self.pid) == self.start:
            return None
        code = self._status_code()
        return self._finish(code if code is not None else UNKNOWN_EXIT)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit code (blocking in ``waitpid`` when this process is the parent)."""
        if self._popen is not None and self._code is None:
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
            return self.poll()
        return super().wait(timeout)

    def stop(self, grace_seconds: float = 120) -> None:
        """SIGTERM the job (not the sandbox monitor), SIGKILL everything after the grace."""
        if self.poll() is not None:
            return
        monitor = self.pid if self.sandboxed else None
        signal_group(self.pid, signal.SIGTERM, skip=monitor)
        if self.wait(grace_seconds) is None:
            signal_group(self.pid, signal.SIGKILL)
            self.wait(5)
