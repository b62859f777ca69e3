"""Batch transform with InstanceCount 2 on the cluster: the input objects are split."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from stepline import jobs
from stepline.jobs import records
from stepline.serving import transform

sys.path.insert(0, str(Path(__file__).parent.parent / "serving"))
from serving_support import SERVE, make_model, put_model  # noqa: E402

from support.images import BIND_TO_PORT, build_image  # noqa: E402


def test_transform_splits_input_objects_across_two_instances(store, tmp_path):
    build_image(
        tmp_path / "serve",
        "linear-serve:1",
        {"serve.py": SERVE},
        ["python", "/opt/program/serve.py"],
        labels=BIND_TO_PORT,
    )
    b = store.bucket
    put_model(f"s3://{b}/lin/model.tar.gz", {"w": 2, "b": 1})
    make_model("lin", "linear-serve:1", f"s3://{b}/lin/model.tar.gz")
    inputs = {f"part-{i}.csv": f"{i}\n{i + 10}\n".encode() for i in range(4)}
    for key, body in inputs.items():
        store.put_bytes(f"s3://{b}/in/{key}", body)
    transform.create_transform_job(
        {
            "TransformJobName": "split-1",
            "ModelName": "lin",
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{b}/in/"}
                },
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {"S3OutputPath": f"s3://{b}/out", "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 2},
        }
    )
    record = jobs.wait("transform", "split-1", timeout=240)
    assert record.status == "Completed", (
        record.state.get("failure_reason"),
        record.log_path.read_text(),
    )
    for i in range(4):  # every object transformed (y = 2x + 1), each once
        out = store.get_bytes(f"s3://{b}/out/part-{i}.csv.out").decode().split()
        assert [float(v) for v in out] == [2 * i + 1, 2 * (i + 10) + 1]
    handled = re.findall(
        r"^\[(algo-\d)\] .*/in/(part-\d\.csv) -> ", record.log_path.read_text(), re.M
    )
    assert sorted(p for _, p in handled) == sorted(inputs)  # split: no object twice
    assert {h for h, _ in handled} == {"algo-1", "algo-2"}
    nodes = {i["node_id"] for i in records.get("transform", "split-1").state["instances"]}
    assert len(nodes) == 2
