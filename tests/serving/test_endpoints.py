"""Endpoints with real model servers: create, invoke, split, update under load, crash, restart."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from serving_support import make_config, make_model, put_model, wait_status

from stepline import jobs, serving
from stepline.errors import ValidationException
from stepline.serving import api, db, server


def _pids(name: str) -> list[int]:
    row = api.endpoint_row(name)
    return [
        json.loads(inst["identifier"])["pid"] for v in row["variants"] for inst in v["_instances"]
    ]


def _post(port: int, name: str, body: bytes, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", f"/endpoints/{name}/invocations", body, headers or {})
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read()


def _deploy(serve_image, name: str = "ep", params: dict | None = None) -> int:
    put_model(f"s3://models/{name}/model.tar.gz", params or {"w": 2, "b": 1})
    make_model(f"{name}-model", "linear-serve:1", f"s3://models/{name}/model.tar.gz")
    make_config(f"{name}-config", [("AllTraffic", f"{name}-model", 1.0)])
    api.create_endpoint({"EndpointName": name, "EndpointConfigName": f"{name}-config"})
    wait_status(name, "InService")
    return server.server_info()["port"]


def test_create_describe_invoke(serve_image) -> None:
    port = _deploy(serve_image)
    desc = serving.describe_endpoint("ep")
    assert desc["EndpointArn"] == "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep"
    assert desc["EndpointConfigName"] == "ep-config"
    variant = desc["ProductionVariants"][0]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["CurrentInstanceCount"] == variant["DesiredInstanceCount"] == 1
    assert variant["DeployedImages"][0]["ResolvedImage"] == serve_image.digest
    assert serving.list_endpoints()["Endpoints"][0]["EndpointStatus"] == "InService"
    assert serving.describe_model("ep-model")["PrimaryContainer"]["Image"] == "linear-serve:1"
    assert serving.describe_endpoint_config("ep-config")["ProductionVariants"][0]["ModelName"] == (
        "ep-model"
    )

    out = serving.invoke_endpoint("ep", b"3", custom_attributes="trace=1")
    assert json.loads(out["Body"]) == {"y": 7, "model": "m"}
    assert out["InvokedProductionVariant"] == "AllTraffic"
    assert out["CustomAttributes"] == "echo:trace=1"
    assert serving.invocation_url("ep") == f"http://127.0.0.1:{port}/endpoints/ep/invocations"

    # Content-Type and Accept reach the container; other client headers are stripped.
    status, _, body = _post(
        port,
        "ep",
        b"headers",
        {"Content-Type": "application/x-test", "Accept": "text/plain", "X-Secret": "no"},
    )
    seen = json.loads(body)
    assert status == 200
    assert seen["content-type"] == "application/x-test" and seen["accept"] == "text/plain"
    assert "x-secret" not in seen

    # A container 5xx is SageMaker's ModelError (424) with the original status.
    with pytest.raises(serving.InvokeError) as err:
        serving.invoke_endpoint("ep", b"fail")
    assert err.value.code == "ModelError" and err.value.status == 424
    assert err.value.detail["OriginalStatusCode"] == 500
    assert err.value.detail["OriginalMessage"] == "model exploded"

    with pytest.raises(serving.InvokeError) as err:
        serving.invoke_endpoint("nope", b"1")
    assert err.value.code == "ValidationError"
    assert "Endpoint nope of account" in err.value.message

    # Payloads over 6 MB are refused before they reach the model.
    status, headers, _ = _post(port, "ep", b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413 and headers["x-amzn-ErrorType"] == "ValidationError"

    time.sleep(1.3)  # the stats flush runs every second
    stats = serving.endpoint_stats("ep")[0]
    assert stats["VariantName"] == "AllTraffic"
    assert stats["Invocations"] == 3 and stats["ModelErrors"] == 1
    assert stats["MeanLatencyMs"] > 0
    logs = serving.endpoint_logs("ep")
    assert "InService" in logs and "serving m on" in logs
    summary = serving.console_summary()
    assert summary["server"]["running"]
    assert summary["endpoints"][0]["variants"][0]["Invocations"] == 3


def test_boto3_sagemaker_runtime_client(serve_image, monkeypatch) -> None:
    """SageMaker Runtime's own client, pointed at the router, works unchanged."""
    import boto3

    port = _deploy(serve_image)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    client = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"
    )
    resp = client.invoke_endpoint(
        EndpointName="ep", Body=b"5", ContentType="application/json", CustomAttributes="a=b"
    )
    assert json.loads(resp["Body"].read()) == {"y": 11, "model": "m"}
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    assert resp["CustomAttributes"] == "echo:a=b"
    with pytest.raises(client.exceptions.ModelError) as err:
        client.invoke_endpoint(EndpointName="ep", Body=b"fail", ContentType="application/json")
    assert err.value.response["OriginalStatusCode"] == 500


def test_traffic_split_and_target_variant(serve_image) -> None:
    put_model("s3://models/a/model.tar.gz", {"w": 1, "b": 0})
    put_model("s3://models/b/model.tar.gz", {"w": 1, "b": 100})
    make_model("ma", "linear-serve:1", "s3://models/a/model.tar.gz", label="a")
    make_model("mb", "linear-serve:1", "s3://models/b/model.tar.gz", label="b")
    make_config("split", [("A", "ma", 3.0), ("B", "mb", 1.0)], count=2)
    api.create_endpoint({"EndpointName": "split", "EndpointConfigName": "split"})
    desc = wait_status("split", "InService")
    assert [v["CurrentWeight"] for v in desc["ProductionVariants"]] == [3.0, 1.0]
    assert [v["CurrentInstanceCount"] for v in desc["ProductionVariants"]] == [2, 2]
    port = server.server_info()["port"]
    conn = http.client.HTTPConnection("127.0.0.1", port)
    seen = Counter()
    for _ in range(800):
        conn.request("POST", "/endpoints/split/invocations", b"1")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        variant = resp.getheader("x-Amzn-Invoked-Production-Variant")
        assert body["model"] == variant.lower()
        seen[variant] += 1
    assert 0.68 < seen["A"] / 800 < 0.82, seen
    for _ in range(20):
        out = serving.invoke_endpoint("split", b"1", target_variant="B")
        assert out["InvokedProductionVariant"] == "B"
    with pytest.raises(serving.InvokeError) as err:
        serving.invoke_endpoint("split", b"1", target_variant="C")
    assert err.value.code == "ValidationError"


def test_update_under_load_is_blue_green(serve_image) -> None:
    port = _deploy(serve_image)
    old_pids = _pids("ep")
    put_model("s3://models/v2/model.tar.gz", {"w": 2, "b": 1})
    make_model("ep-model-v2", "linear-serve:1", "s3://models/v2/model.tar.gz", label="v2")
    make_config("ep-config-v2", [("Blue", "ep-model-v2", 1.0)])

    stop = threading.Event()
    results: list[tuple[int, str]] = []
    failures: list[str] = []

    def hammer() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            try:
                # Some requests are slow, so they are in flight when the switch happens.
                body = b"sleep:0.3" if len(results) % 25 == 0 else b"2"
                conn.request("POST", "/endpoints/ep/invocations", body)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    failures.append(f"{resp.status} {data[:200]!r}")
                else:
                    results.append(
                        (resp.status, resp.getheader("x-Amzn-Invoked-Production-Variant"))
                    )
            except Exception as exc:  # noqa: BLE001 - counted as a failure
                failures.append(repr(exc))
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    api.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "ep-config-v2"})
    assert api.describe_endpoint("ep")["EndpointStatus"] == "Updating"
    assert "PendingDeploymentSummary" in api.describe_endpoint("ep")
    desc = wait_status("ep", "InService")
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    variants = Counter(v for _, v in results)
    assert variants["AllTraffic"] > 0 and variants["Blue"] > 0, variants
    assert desc["EndpointConfigName"] == "ep-config-v2"
    assert [v["VariantName"] for v in desc["ProductionVariants"]] == ["Blue"]
    # The old model servers were stopped once drained.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in old_pids):
        time.sleep(0.05)
    assert not any(_alive(p) for p in old_pids)
    assert json.loads(serving.invoke_endpoint("ep", b"1")["Body"])["model"] == "v2"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_crashed_model_server_is_restarted(serve_image) -> None:
    _deploy(serve_image)
    (pid,) = _pids("ep")
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            out = serving.invoke_endpoint("ep", b"1")
            break
        except serving.InvokeError as exc:
            assert exc.code in ("ServiceUnavailable", "ModelError"), exc
            time.sleep(0.05)
    else:
        raise AssertionError("the endpoint did not come back")
    assert json.loads(out["Body"])["y"] == 3
    assert api.describe_endpoint("ep")["EndpointStatus"] == "InService"
    assert "restarting" in serving.endpoint_logs("ep")
    assert "back in service" in serving.endpoint_logs("ep")
    for _ in range(20):
        serving.invoke_endpoint("ep", b"1")


def test_endpoint_comes_back_after_server_restart(serve_image) -> None:
    _deploy(serve_image)
    info = server.server_info()
    os.kill(int(info["pid"]), signal.SIGKILL)  # the machine "restarts": the server is gone
    deadline = time.monotonic() + 10
    while server.server_info() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.server_info() is None
    old_pids = _pids("ep")
    server.ensure_server()
    desc = wait_status("ep", "InService")
    assert desc["EndpointStatus"] == "InService"
    assert json.loads(serving.invoke_endpoint("ep", b"4")["Body"])["y"] == 9
    assert set(_pids("ep")).isdisjoint(old_pids)
    assert not any(_alive(p) for p in old_pids)  # orphans of the dead server were stopped


def test_tar_slip_archive_fails_the_endpoint(serve_image) -> None:
    from serving_support import model_tarball

    store_uri = "s3://models/evil/model.tar.gz"
    put_model(store_uri, {"w": 1, "b": 1})
    from stepline.storage import get_store

    get_store().put_bytes(
        store_uri, model_tarball({"w": 1, "b": 1}, extra={"../../escaped.txt": b"pwned"})
    )
    make_model("evil", "linear-serve:1", store_uri)
    make_config("evil", [("AllTraffic", "evil", 1.0)])
    api.create_endpoint({"EndpointName": "evil", "EndpointConfigName": "evil"})
    desc = wait_status("evil", "Failed")
    assert "escape" in desc["FailureReason"]
    assert not list(Path(os.environ["STEPLINE_HOME"]).rglob("escaped.txt"))


def test_model_server_that_cannot_start_fails_with_reason(serve_image) -> None:
    from stepline.storage import get_store

    get_store().create_bucket("models")
    get_store().put_bytes("s3://models/bad/model.tar.gz", b"")
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz"):
        pass  # no model.json: the server dies on start
    get_store().put_bytes("s3://models/bad/model.tar.gz", buf.getvalue())
    make_model("bad", "linear-serve:1", "s3://models/bad/model.tar.gz")
    make_config("bad", [("AllTraffic", "bad", 1.0)])
    api.create_endpoint({"EndpointName": "bad", "EndpointConfigName": "bad"})
    desc = wait_status("bad", "Failed")
    assert "exited with code" in desc["FailureReason"]
    assert "model.json" in desc["FailureReason"]  # the log tail says why


def test_delete_endpoint_stops_servers(serve_image) -> None:
    _deploy(serve_image)
    pids = _pids("ep")
    api.delete_endpoint("ep")
    deadline = time.monotonic() + 15
    while api.endpoint_row("ep") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.endpoint_row("ep") is None
    assert not any(_alive(p) for p in pids)
    with pytest.raises(ValidationException):
        api.describe_endpoint("ep")


def test_requests_are_validated(serve_image) -> None:
    with pytest.raises(ValidationException, match="PrimaryContainer"):
        api.create_model({"ModelName": "x", "ExecutionRoleArn": "arn:aws:iam::000000000000:role/r"})
    with pytest.raises(ValidationException, match="ModelName"):
        api.create_model({"ModelName": "bad name!", "PrimaryContainer": {"Image": "i"}})
    with pytest.raises(ValidationException, match="Could not find model"):
        make_config("c", [("A", "missing", 1.0)])
    with pytest.raises(ValidationException, match="InstanceType"):
        api.create_endpoint_config(
            {
                "EndpointConfigName": "c",
                "ProductionVariants": [
                    {"VariantName": "A", "ModelName": "m", "InstanceType": "ml.bogus"}
                ],
            }
        )
    with pytest.raises(ValidationException, match="Could not find endpoint configuration"):
        api.create_endpoint({"EndpointName": "e", "EndpointConfigName": "none"}, notify=False)
    put_model("s3://models/v/model.tar.gz", {"w": 1, "b": 0})
    make_model("v", "linear-serve:1", "s3://models/v/model.tar.gz")
    make_config("v", [("A", "v", 1.0)])
    api.create_endpoint({"EndpointName": "e", "EndpointConfigName": "v"}, notify=False)
    with pytest.raises(ValidationException, match="already existing endpoint"):
        api.create_endpoint({"EndpointName": "e", "EndpointConfigName": "v"}, notify=False)
    # The same token (an engine retry) is idempotent.
    api.create_endpoint({"EndpointName": "t", "EndpointConfigName": "v"}, token="tok", notify=False)
    again = api.create_endpoint(
        {"EndpointName": "t", "EndpointConfigName": "v"}, token="tok", notify=False
    )
    assert again["EndpointArn"].endswith("endpoint/t")
    with pytest.raises(ValidationException, match="in-progress"):
        api.update_endpoint({"EndpointName": "e", "EndpointConfigName": "v"}, notify=False)
    assert [e for _, e in db.events("e")] == ["CreateEndpoint with configuration v"]


def test_model_from_a_real_training_job(serve_image) -> None:
    """A training job writes the model; the endpoint serves its ModelArtifacts."""
    from stepline import images

    ctx = Path(os.environ["STEPLINE_HOME"]).parent / "train-ctx"
    ctx.mkdir()
    (ctx / "train.py").write_text(
        "import json, os\n"
        "hp = json.load(open('/opt/ml/input/config/hyperparameters.json'))\n"
        "json.dump({'w': float(hp['w']), 'b': 0.5}, open('/opt/ml/model/model.json', 'w'))\n"
    )
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY train.py /opt/program/\n"
        'ENTRYPOINT ["python", "/opt/program/train.py"]\n'
    )
    images.build(ctx, "linear-train:1")
    from stepline.storage import get_store

    get_store().create_bucket("bucket")
    jobs.create_training_job(
        {
            "TrainingJobName": "fit",
            "RoleArn": "arn:aws:iam::000000000000:role/sm",
            "AlgorithmSpecification": {
                "TrainingImage": "linear-train:1",
                "TrainingInputMode": "File",
            },
            "HyperParameters": {"w": "4"},
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
            "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        }
    )
    record = jobs.wait("training", "fit", timeout=60)
    assert record.status == "Completed", record.state
    artifact = jobs.describe_training_job("fit")["ModelArtifacts"]["S3ModelArtifacts"]
    make_model("fitted", "linear-serve:1", artifact)
    make_config("fitted", [("AllTraffic", "fitted", 1.0)])
    api.create_endpoint({"EndpointName": "fitted", "EndpointConfigName": "fitted"})
    wait_status("fitted", "InService")
    assert json.loads(serving.invoke_endpoint("fitted", b"2")["Body"])["y"] == 8.5
