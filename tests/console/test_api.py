"""The console's HTTP API: shapes, errors, hostile names, jobs, providers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from stepline.console import providers


def test_state_machines_list_describe_versions(client: Any, engine: Any) -> None:
    body = client.get("/api/state-machines").json()
    [sm] = body["stateMachines"]
    assert sm["name"] == "api-demo" and "definition" not in sm
    desc = client.get("/api/state-machines/api-demo").json()
    assert desc["definition"]["StartAt"] == "Start"
    ids = {n["id"] for n in desc["graph"]["nodes"]}
    assert {"Start", "Fan", "Fan/0/Each", "Fan/0/Each/0/Twice", "Fan/1/Oops"} <= ids
    changed = json.loads(json.dumps(desc["definition"]))
    changed["Comment"] = "v2"
    engine.create_state_machine("api-demo", changed)
    versions = client.get("/api/state-machines/api-demo/versions").json()["versions"]
    assert [v["revision"] for v in versions] == [2, 1]
    assert versions[0]["definition"]["Comment"] == "v2" and "graph" in versions[1]


def test_start_progress_history_and_filters(client: Any, engine: Any) -> None:
    resp = client.post(
        "/api/executions",
        json={"stateMachine": "api-demo", "input": {"items": [1, 2]}, "name": "e1"},
    )
    assert resp.status_code == 201, resp.text
    arn = resp.json()["executionArn"]
    assert engine.wait(arn, timeout=10)["status"] == "SUCCEEDED"
    progress = client.get(f"/api/executions/{arn}/progress").json()
    assert progress["execution"]["status"] == "SUCCEEDED"
    states = progress["states"]
    assert states["Fan/1/Oops"]["status"] == "caught"
    assert states["Fan/1/Oops"]["error"] == "KeyError"
    assert states["Fan/0/Each/0/Twice"]["visits"] == 2
    assert json.loads(states["Fan/0/Each"]["output"]) == [2, 4]
    assert states["Start"]["durationMs"] is not None
    history = client.get(f"/api/executions/{arn}/history").json()["events"]
    assert history[0]["type"] == "ExecutionStarted"
    later = client.get(f"/api/executions/{arn}/history", params={"after": 3}).json()["events"]
    assert later[0]["id"] == 4 and len(later) == len(history) - 3
    listed = client.get("/api/executions", params={"stateMachine": "api-demo"}).json()
    [item] = listed["executions"]
    assert item["name"] == "e1" and item["stateMachineName"] == "api-demo"
    assert item["durationMs"] >= 0
    failed = client.get("/api/executions", params={"status": "FAILED"}).json()
    assert failed["executions"] == []
    assert client.get("/api/executions", params={"status": "BOGUS"}).status_code == 422
    again = client.post("/api/executions", json={"stateMachine": "api-demo", "name": "e1"})
    assert again.status_code == 409
    # Finished executions can be neither stopped nor redriven.
    assert client.post(f"/api/executions/{arn}/stop", json={}).status_code == 409
    assert client.post(f"/api/executions/{arn}/redrive", json={}).status_code == 409


def test_stop_and_redrive(client: Any, engine: Any) -> None:
    import threading

    from stepline.integrations import register_function

    gate = threading.Event()
    register_function("api_block", lambda event: gate.wait(30) and {"ok": 1})
    engine.create_state_machine(
        "blocker",
        {
            "StartAt": "Block",
            "States": {
                "Block": {
                    "Type": "Task",
                    "Resource": "arn:aws:lambda:us-east-1:123456789012:function:api_block",
                    "End": True,
                }
            },
        },
    )
    client.post("/api/executions", json={"stateMachine": "blocker", "name": "b1"})
    deadline = time.time() + 10
    while client.get("/api/executions/b1/progress").json()["states"].get("Block") is None:
        assert time.time() < deadline
        time.sleep(0.02)
    assert client.get("/api/executions/b1/progress").json()["states"]["Block"]["status"] == (
        "running"
    )
    assert client.post("/api/executions/b1/stop", json={"error": "Manual"}).status_code == 200
    gate.set()
    deadline = time.time() + 10
    while engine.describe_execution("b1")["status"] == "RUNNING":
        assert time.time() < deadline
        time.sleep(0.02)
    assert engine.describe_execution("b1")["status"] == "ABORTED"
    assert client.post("/api/executions/b1/redrive", json={}).status_code == 200
    engine.wait("b1", timeout=10)
    progress = client.get("/api/executions/b1/progress").json()
    assert progress["execution"]["status"] == "SUCCEEDED"
    assert progress["execution"]["redriveCount"] == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/state-machines/..%2F..%2Fetc%2Fpasswd",
        "/api/state-machines/a%20b",
        "/api/state-machines/x%0A",
        "/api/executions/%3Cscript%3E",
        "/api/executions/nope/progress",
        "/api/jobs/training/..%2Fx",
        "/api/jobs/bogus/name",
        "/api/jobs/training/no-such-job",
        "/api/jobs/training/no-such-job/logs",
        "/static/..%2F..%2Fserver%2Fapp.py",
        "/static/app.py",
    ],
)
def test_hostile_or_unknown_names_are_404(client: Any, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404, resp.text


def test_console_files_and_openapi(client: Any) -> None:
    index = client.get("/")
    assert index.status_code == 200 and "/static/app.js" in index.text
    for name in ("app.js", "style.css", "dagre.min.js", "uPlot.iife.min.js", "uPlot.min.css"):
        assert client.get(f"/static/{name}").status_code == 200, name
    assert "http" not in index.text.replace("http-equiv", "")
    spec = client.get("/openapi.json").json()
    assert "/api/executions/{name}/progress" in spec["paths"]
    assert "/api/endpoints" in spec["paths"] and "/api/jobs/{kind}/{name}/logs" in spec["paths"]


def test_endpoints_and_models_come_from_providers(client: Any) -> None:
    assert client.get("/api/endpoints").json() == {"endpoints": []}
    assert client.get("/api/models").json() == {"models": []}

    def eps() -> list[dict]:
        return [{"EndpointName": "e", "EndpointStatus": "InService"}]

    def models() -> list[dict]:
        return [{"ModelName": "m"}]

    providers.register_endpoints(eps)
    providers.register_models(models)
    try:
        assert client.get("/api/endpoints").json()["endpoints"][0]["EndpointName"] == "e"
        assert client.get("/api/models").json()["models"] == [{"ModelName": "m"}]
    finally:
        providers.unregister(eps)
        providers.unregister(models)
    assert client.get("/api/endpoints").json() == {"endpoints": []}


def test_job_record_metrics_and_log_chunks(client: Any, api_home: Any) -> None:
    from stepline.jobs import records

    folder = records.job_folder("training", "rec-1")
    folder.mkdir(parents=True)
    now = time.time()
    assert records.insert(
        records.JobRecord(
            kind="training",
            name="rec-1",
            arn="arn:aws:sagemaker:local:000000000000:training-job/rec-1",
            token=None,
            status="InProgress",
            secondary_status="Training",
            created=now - 5,
            modified=now,
            started=now - 4,
            ended=None,
            request={
                "TrainingJobName": "rec-1",
                "RoleArn": "arn:aws:iam::1:role/R",
                "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
                "HyperParameters": {"lr": "0.1"},
                "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
                "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1},
            },
            state={"image": {"digest": "sha256:abc"}},
            folder=folder,
            supervisor=None,
            stop_requested=False,
            run_identifier=None,
        )
    )
    records.add_metric("training", "rec-1", "loss", 0.9, now - 3)
    records.add_metric("training", "rec-1", "loss", 0.4, now - 2)
    text = "line one\nzwei: ü\n" * 3
    (folder / "output.log").write_text(text)
    job = client.get("/api/jobs/training/rec-1").json()
    assert job["status"] == "InProgress" and job["durationSeconds"] >= 4
    assert job["local"]["Image"]["digest"] == "sha256:abc"
    assert job["request"]["HyperParameters"] == {"lr": "0.1"}
    assert job["describe"]["TrainingJobStatus"] == "InProgress"
    metrics = client.get("/api/jobs/training/rec-1/metrics").json()["metrics"]
    assert [v for _, v in metrics["loss"]] == [0.9, 0.4]
    # Follow the log in small chunks; multi-byte characters are never split.
    got, offset = "", 0
    while True:
        chunk = client.get(
            "/api/jobs/training/rec-1/logs", params={"offset": offset, "limit": 7}
        ).json()
        got += chunk["text"]
        if chunk["nextOffset"] == offset:
            break
        offset = chunk["nextOffset"]
    assert got == text and chunk["complete"] is False
    [listed] = client.get("/api/jobs").json()["jobs"]
    assert listed["JobName"] == "rec-1"
