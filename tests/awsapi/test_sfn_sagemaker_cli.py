"""The AWS CLI (v1, unmodified) against ``stepline server``: ``aws stepfunctions`` and
``aws sagemaker`` with only the environment ``stepline env`` prints."""

from __future__ import annotations

import json
import subprocess
import sys

ROLE = "arn:aws:iam::000000000000:role/cli"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}


def _aws(client_env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "awscli", *args, "--output", "json"],
        env=client_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_aws_cli_stepfunctions_and_sagemaker(client_env):
    created = _aws(
        client_env,
        "stepfunctions",
        "create-state-machine",
        "--name",
        "cli-express",
        "--type",
        "EXPRESS",
        "--role-arn",
        ROLE,
        "--definition",
        json.dumps(PASS),
    )
    arn = created["stateMachineArn"]
    assert arn.endswith(":stateMachine:cli-express")
    listed = _aws(client_env, "stepfunctions", "list-state-machines")["stateMachines"]
    assert arn in [m["stateMachineArn"] for m in listed]
    # StartSyncExecution has a "sync-" host prefix: stepline env turns injection off.
    result = _aws(client_env, "stepfunctions", "start-sync-execution", "--state-machine-arn", arn)
    assert result["status"] == "SUCCEEDED" and json.loads(result["output"]) == {"ok": True}
    jobs = _aws(client_env, "sagemaker", "list-training-jobs")
    assert "TrainingJobSummaries" in jobs
    missing = subprocess.run(
        [sys.executable, "-m", "awscli", "sagemaker", "describe-model", "--model-name", "nope"],
        env=client_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0
    assert "(ValidationException)" in missing.stderr and "Could not find model" in missing.stderr
