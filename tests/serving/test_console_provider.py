"""The console's endpoints and models pages list real endpoints, with invocation metrics."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from serving_support import make_config, make_model, put_model, wait_status

from stepline import serving
from stepline.serving import api


def test_console_api_lists_endpoints_and_models(serve_image) -> None:
    from stepline.console.app import create_app

    put_model("s3://models/cp/model.tar.gz", {"w": 2, "b": 1})
    make_model("cp-model", "linear-serve:1", "s3://models/cp/model.tar.gz")
    make_config("cp-config", [("AllTraffic", "cp-model", 1.0)])
    api.create_endpoint({"EndpointName": "cp", "EndpointConfigName": "cp-config"})
    wait_status("cp", "InService")
    for value in (b"1", b"2", b"3"):
        serving.invoke_endpoint("cp", value)

    from stepline.console.security import console_token

    auth = {"Authorization": f"Bearer {console_token()}"}
    client = TestClient(create_app(), base_url="http://127.0.0.1", headers=auth)
    deadline = time.time() + 10  # the server folds its counters into SQLite every second
    while True:
        endpoints = client.get("/api/endpoints").json()["endpoints"]
        invocations = endpoints[0]["Metrics"]["Invocations"]
        if sum(n for _, n in invocations) >= 3 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert [e["EndpointName"] for e in endpoints] == ["cp"]
    assert endpoints[0]["EndpointStatus"] == "InService"
    assert endpoints[0]["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert sum(n for _, n in invocations) == 3
    models = client.get("/api/models").json()["models"]
    assert [m["ModelName"] for m in models] == ["cp-model"]
    serving.delete_endpoint("cp")
