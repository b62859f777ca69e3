"""Every ``list`` command at 80 columns: identifiers and times are printed whole (so they can
be copied into ``describe``), all in one table style, and ``--json`` parses.

``executions list``, the command whose boxed table used to cut UUIDs, runs as a real
subprocess with ``COLUMNS=80``; the others run in this process with the same setting.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stepline import images, jobs
from stepline.cli import main
from stepline.cli._common import print_table
from stepline.engine import Engine
from stepline.storage import get_store

LONG_MACHINE = "a-state-machine-name-long-enough-to-overflow-eighty-columns-on-its-own"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(autouse=True)
def home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``support.fixtures``'s private home, at 80 columns."""
    monkeypatch.setenv("COLUMNS", "80")
    return home


def _cli(*args: str) -> str:
    """``stepline ARGS`` in a subprocess at 80 columns; its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", "from stepline.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    main(list(args))
    return capsys.readouterr().out


def _header_and_rows(text: str) -> tuple[list[str], list[str]]:
    lines = text.splitlines()
    return lines[0].split(), lines[1:]


def test_executions_list_prints_uuids_arns_and_times_whole() -> None:
    engine = Engine()
    engine.create_state_machine(LONG_MACHINE, PASS)
    started = engine.start_execution(LONG_MACHINE, {"x": 1})
    name = started["executionArn"].rsplit(":", 1)[1]
    assert re.fullmatch(UUID, name)

    text = _cli("executions", "list")
    header, rows = _header_and_rows(text)
    assert header == ["NAME", "STATE", "MACHINE", "STATUS", "STARTED", "STOPPED"]
    assert len(rows) == 1
    assert re.fullmatch(rf"{name}  {LONG_MACHINE}  SUCCEEDED  {TIME}  {TIME}", rows[0]), rows[0]
    assert not any(c in text for c in "…┃│"), "no ellipsis, no box"

    listed = json.loads(_cli("executions", "list", "--json"))
    assert [e["name"] for e in listed] == [name]
    assert listed[0]["executionArn"] == started["executionArn"]

    # The name copied from the table is what describe and history take.
    assert json.loads(_cli("executions", "describe", name, "--json"))["status"] == "SUCCEEDED"


def test_workflows_and_history_tables(capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine()
    created = engine.create_state_machine(LONG_MACHINE, PASS)
    run = engine.start_execution(LONG_MACHINE, {})

    text = _run(capsys, "workflows", "list")
    assert text.splitlines()[0].split() == ["NAME", "REVISION", "UPDATED", "ARN"]
    assert created["stateMachineArn"] in text and LONG_MACHINE in text
    assert re.search(TIME, text)
    machines = json.loads(_run(capsys, "workflows", "list", "--json"))
    assert machines[0]["stateMachineArn"] == created["stateMachineArn"]

    text = _run(capsys, "executions", "history", run["executionArn"])
    header, rows = _header_and_rows(text)
    assert header == ["ID", "TYPE", "STATE", "TIMESTAMP"]
    assert rows[0].split()[:2] == ["1", "ExecutionStarted"]
    assert re.search(TIME + r"\.\d{3}$", rows[0])
    events = json.loads(_run(capsys, "executions", "history", run["executionArn"], "--json"))
    assert [e["type"] for e in events][-1] == "ExecutionSucceeded"


def test_jobs_and_images_tables(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    get_store().create_bucket("bucket")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "t.py").write_text("print('hi')\n")
    (ctx / "Dockerfile").write_text(
        textwrap.dedent(
            """\
            FROM python:3.11
            COPY t.py /opt/program/t.py
            ENTRYPOINT ["python", "/opt/program/t.py"]
            """
        )
    )
    image_name = "an-image-repository-name-that-is-rather-long"
    image = images.build(ctx, f"{image_name}:v1", runtime="process")
    job_name = "a-training-job-name-of-the-full-sixty-three-characters-allowed1"
    assert len(job_name) == 63
    jobs.create_training_job(
        {
            "TrainingJobName": job_name,
            "RoleArn": "arn:aws:iam::123456789012:role/FakeSageMakerExecutionRole",
            "AlgorithmSpecification": {
                "TrainingImage": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{image_name}:v1",
                "TrainingInputMode": "File",
            },
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
            "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        }
    )
    jobs.wait("training", job_name, timeout=60)

    text = _run(capsys, "jobs", "list")
    header, rows = _header_and_rows(text)
    assert header == ["NAME", "KIND", "STATUS", "SECONDARY", "CREATED", "ENDED"]
    assert re.fullmatch(rf"{job_name}  training  Completed  Completed  {TIME}  {TIME}", rows[0])
    listed = json.loads(_run(capsys, "jobs", "list", "--json"))
    assert listed[0]["JobName"] == job_name and listed[0]["JobArn"].endswith(job_name)

    text = _run(capsys, "images", "ls")
    header, rows = _header_and_rows(text)
    assert header[:5] == ["NAME", "TAG", "RUNTIME", "DIGEST", "CREATED"]
    assert image.digest in rows[0] and image_name in rows[0]  # the whole sha256 digest
    listed = json.loads(_run(capsys, "images", "ls", "--json"))
    assert any(i["digest"] == image.digest for i in listed)


def test_empty_lists_say_so_and_json_is_empty(capsys: pytest.CaptureFixture[str]) -> None:
    for group, command, empty, key in [
        ("executions", "list", "no executions", None),
        ("jobs", "list", "no jobs", None),
        ("endpoints", "list", "no endpoints", "Endpoints"),
        ("workflows", "list", "no workflows", None),
        ("images", "ls", "no images", None),
    ]:
        assert _run(capsys, group, command) == empty + "\n"
        doc = json.loads(_run(capsys, group, command, "--json"))
        assert (doc[key] if key else doc) == []


def test_one_table_style_never_cuts_cells(capsys: pytest.CaptureFixture[str]) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/" + "e" * 63
    print_table(("name", "arn", "when"), [("x", arn, None), ("longer-name", "multi\nline", 3)])
    assert capsys.readouterr().out.splitlines() == [
        "NAME         ARN" + " " * (len(arn) - 1) + "WHEN",
        f"x            {arn}  -",
        "longer-name  multi line" + " " * (len(arn) - 8) + "3",
    ]
