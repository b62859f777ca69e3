"""The container engine (podman, or docker when it is present and its daemon answers).

Podman on the machines stepline targets (root, no systemd user session, a VM kernel) needs a
few settings that are not its defaults: the ``runc`` OCI runtime, ``cgroupfs``, file-based
events, and explicit ulimits because the defaults ask for more than the hard limits allow
(``error setting rlimits ... operation not permitted``).  Rather than touching
``/etc/containers``, stepline writes its own ``containers.conf`` and ``storage.conf`` under
``$STEPLINE_HOME/containers/`` and points podman at them with ``CONTAINERS_CONF`` and
``CONTAINERS_STORAGE_CONF``.

Storage: ``overlay`` (native overlay works as root and is fast), in
``$STEPLINE_HOME/containers/storage`` unless ``STEPLINE_CONTAINERS_ROOT`` names another
folder (the tests use one under ``/var/cache`` so the base image survives between runs);
``STEPLINE_CONTAINERS_DRIVER`` picks another driver (``vfs`` works everywhere, slowly).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import resource
import shutil
import subprocess
from pathlib import Path
from typing import Any

from stepline import config
from stepline.images.errors import ImageError


def _nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(hard if hard != resource.RLIM_INFINITY else 1 << 20, 1 << 20)


def _nproc() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    limit = hard if hard != resource.RLIM_INFINITY else 1 << 16
    return min(limit // 2, 32768)


def storage_root() -> Path:
    """Where the engine keeps images and containers."""
    custom = os.environ.get("STEPLINE_CONTAINERS_ROOT")
    return Path(custom) if custom else config.home() / "containers"


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def engine_env() -> dict[str, str]:
    """The environment under which podman runs, with stepline's configuration files."""
    conf_dir = config.home() / "containers"
    root = storage_root()
    driver = os.environ.get("STEPLINE_CONTAINERS_DRIVER", "overlay")
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    runroot = Path("/run/stepline-containers") / key
    try:
        runroot.mkdir(parents=True, exist_ok=True)
    except OSError:
        runroot = root / "run"
    containers_conf = (
        "[containers]\n"
        f'default_ulimits = ["nofile={_nofile()}:{_nofile()}", "nproc={_nproc()}:{_nproc()}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    storage_conf = (
        f'[storage]\ndriver = "{driver}"\ngraphroot = "{root / "storage"}"\nrunroot = "{runroot}"\n'
    )
    _write_if_changed(conf_dir / "containers.conf", containers_conf)
    _write_if_changed(conf_dir / f"storage-{key}.conf", storage_conf)
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(conf_dir / "containers.conf")
    env["CONTAINERS_STORAGE_CONF"] = str(conf_dir / f"storage-{key}.conf")
    return env


@functools.cache
def _docker_works() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engine_name() -> str | None:
    """``podman`` when installed, else ``docker`` when its daemon answers, else None."""
    if shutil.which("podman"):
        return "podman"
    if _docker_works():
        return "docker"
    return None


def command(*args: str) -> list[str]:
    """The engine command line for ``args`` (raises when no engine is installed)."""
    name = engine_name()
    if name is None:
        raise ImageError(
            "no container engine: install podman (apt-get install podman runc) or use "
            "the process runtime"
        )
    return [shutil.which(name) or name, *args]


def run(
    *args: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run an engine command, capturing its output; a failure raises with the engine's words."""
    proc = subprocess.run(
        command(*args), env=env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ImageError(f"{args[0]} failed: {detail[-1] if detail else proc.returncode}")
    return proc


def env() -> dict[str, str]:
    """The environment for engine commands (podman's config files; docker needs none)."""
    return engine_env() if engine_name() == "podman" else dict(os.environ)


def inspect_image(ref: str) -> dict[str, Any]:
    """``image inspect`` of one image."""
    data = json.loads(run("image", "inspect", ref).stdout)
    return data[0]


def image_exists(ref: str) -> bool:
    """Whether the engine has an image of that reference."""
    return run("image", "inspect", ref, check=False).returncode == 0


def remove_image(ref: str) -> None:
    """Remove an engine image (ignoring one that is already gone or still in use)."""
    if engine_name() is not None:
        run("rmi", "-f", ref, check=False)
