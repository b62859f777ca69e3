"""The example pipeline, unchanged, on the Ray cluster: only the runtime and store settings
differ from ``tests/examples`` (a reduced input, as there)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from stepline import serving
from stepline.jobs import records
from support.ner_example import TINY_CONFIG

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ner_bert"


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - the example module
    monkeypatch.setenv("STEPLINE_SERVING_STOP_GRACE", "5")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    spec = importlib.util.spec_from_file_location("ner_bert_pipeline_ray", EXAMPLE / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ner_bert_pipeline_ray", module)
    spec.loader.exec_module(module)
    yield module
    for endpoint in serving.list_endpoints()["Endpoints"]:
        serving.delete_endpoint(endpoint["EndpointName"])
    serving.stop_server()


def test_example_pipeline_runs_unchanged_on_ray(pipeline, cluster) -> None:
    cfg = pipeline.Config(**TINY_CONFIG, endpoint_name="ner-bert-ray")
    execution = pipeline.run(cfg, name="tiny-ray", log=lambda line: None)
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["training"]["ModelArtifacts"]["S3ModelArtifacts"]
    ran = [r for r in records.all_jobs() if r.kind in ("training", "processing")]
    assert {r.kind for r in ran} == {"training", "processing"}
    workers = {cluster.node_id(i) for i in range(len(cluster.workers)) if cluster.workers[i]}
    for record in ran:
        assert record.status == "Completed", record.state.get("failure_reason")
        assert record.state["runtime_backend"] == "ray"
        assert record.state["instances"][0]["node_id"] in workers
