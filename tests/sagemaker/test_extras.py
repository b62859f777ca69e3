"""What the layer gives the CLI, the console and the AWS API beyond SageMaker's operations:
every page of a List*, the server's port, an endpoint's address, logs and deletion wait, the
log files of jobs and model servers, a job type's record, and the step cache's explanation."""

from __future__ import annotations

import pytest
from layer_support import ROLE, training

from stepline import sagemaker


def _model(name: str) -> dict:
    return {
        "ModelName": name,
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": "nothere:1", "ModelDataUrl": "s3://bucket/m.tar.gz"},
    }


def test_list_all_follows_every_page() -> None:
    for i in range(103):  # more than one page of ListModels (MaxResults is at most 100)
        sagemaker.call("CreateModel", _model(f"all-{i}"))
    first = sagemaker.call("ListModels")
    assert len(first["Models"]) == 10 and first["NextToken"]
    listed = sagemaker.list_all("ListModels", {"MaxResults": 5, "NextToken": "ignored"})
    names = [m["ModelName"] for m in listed]
    assert sorted(names) == sorted(f"all-{i}" for i in range(103))
    times = [m["CreationTime"] for m in listed]
    assert times == sorted(times, reverse=True)  # newest first, across pages
    only = sagemaker.list_all("ListModels", {"NameContains": "all-10"})
    assert {m["ModelName"] for m in only} == {"all-10", "all-100", "all-101", "all-102"}


def test_endpoint_extras_without_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sagemaker.server_url() is None
    monkeypatch.delenv("STEPLINE_SERVER_PORT", raising=False)
    assert sagemaker.server_port() == 8787  # where it will listen once started
    monkeypatch.setenv("STEPLINE_SERVER_PORT", "9911")
    assert sagemaker.server_port() == 9911
    assert sagemaker.endpoint_instance_logs("ghost") is None
    assert sagemaker.invocation_url("ep") is None  # asking does not start the server
    assert sagemaker.server_url() is None
    with pytest.raises(sagemaker.ValidationException, match='Could not find endpoint "arn:aws'):
        sagemaker.endpoint_logs("ghost")
    assert sagemaker.wait_endpoint_deleted("ghost", timeout=0) is True
    assert sagemaker.endpoint_stats("ghost") == []
    assert sagemaker.endpoint_metrics("ghost") == {
        "Invocations": [],
        "ModelLatencyMs": [],
        "Errors": [],
    }


def test_job_types_give_their_record(image) -> None:
    sagemaker.call("CreateTrainingJob", training("rec-1", image))
    job = sagemaker.job_type("training")
    assert job.has_records and not sagemaker.job_type("tuning").has_records
    assert job.wait("rec-1", None) == "Completed"
    record = job.record("rec-1")
    assert record is not None and record.name == "rec-1" and record.terminal
    assert job.record("ghost") is None and sagemaker.job_type("tuning").record("rec-1") is None
    local = job.local(record)
    assert [(m["MetricName"], m["Value"]) for m in local["Metrics"]] == [("loss", 0.09)]
    assert local["LogPath"] == str(record.log_path)
    logs = sagemaker.job_logs("training", "rec-1")
    assert logs == [sagemaker.JobLog("rec-1", record.log_path, record.created, record.started)]
    assert logs[0].path.read_text()  # the job wrote its output there
    assert sagemaker.job_logs("training", "ghost") == []
    assert sagemaker.job_logs("processing", "rec-1") == []
    assert [log.name for log in sagemaker.job_logs("training")] == ["rec-1"]
    explained = sagemaker.explain_cache("training", "rec-1")
    assert explained["job"] == "rec-1" and explained["cached"] is False
    with pytest.raises(KeyError, match="no training job 'ghost'"):
        sagemaker.explain_cache("training", "ghost")
