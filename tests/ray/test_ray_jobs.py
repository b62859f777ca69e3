"""Jobs on a real Ray cluster: multi-host training over gloo, sharded processing, logs, stop
and MaxRuntime (a supervisor's or the driver's death: ``test_ray_driver``; a dead node:
``test_ray_node_death``)."""

from __future__ import annotations

import io
import json
import tarfile
import time

from ray_support import processing_request, training_request

from stepline import jobs
from stepline.jobs import records
from support.procs import processes_with

ALLREDUCE = """
import json, os, socket, sys
import torch
import torch.distributed as dist

rc = json.load(open("/opt/ml/input/config/resourceconfig.json"))
env = {k: os.environ[k] for k in (
    "SM_HOSTS", "SM_CURRENT_HOST", "SM_NUM_CPUS", "SM_NUM_GPUS",
    "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")}
resolved = {h: socket.gethostbyname(h) for h in rc["hosts"]}
dist.init_process_group("gloo", rank=int(env["RANK"]), world_size=int(env["WORLD_SIZE"]))
t = torch.tensor([float(env["RANK"]) + 1.0])
dist.all_reduce(t)
dist.destroy_process_group()
ifaces = [name for _, name in socket.if_nameindex()]
print("SEEN", json.dumps({"rc": rc, "env": env, "resolved": resolved, "sum": t.item(),
                          "ifaces": ifaces}), flush=True)
os.makedirs("/opt/ml/model", exist_ok=True)
open("/opt/ml/model/host.txt", "w").write(rc["current_host"])
"""


def _seen(record) -> dict[str, dict]:
    """``[algo-N] SEEN {...}`` lines of the job's log, by host."""
    out = {}
    for line in record.log_path.read_text().splitlines():
        host, _, rest = line.partition(" ")
        if rest.startswith("SEEN "):
            out[host.strip("[]")] = json.loads(rest[5:])
    return out


def test_two_instance_training_allreduces_over_gloo_on_two_nodes(store, make_image):
    image = make_image("allreduce", {"train.py": ALLREDUCE}, ["python", "/opt/program/train.py"])
    req = training_request("allreduce-1", image, store.bucket, count=2)
    jobs.create_training_job(req)
    record = jobs.wait("training", "allreduce-1", timeout=240)
    desc = jobs.describe_training_job("allreduce-1")
    assert desc["TrainingJobStatus"] == "Completed", (
        desc.get("FailureReason"),
        record.log_path.read_text(),
    )
    seen = _seen(record)
    assert sorted(seen) == ["algo-1", "algo-2"], record.log_path.read_text()
    for i, host in enumerate(["algo-1", "algo-2"]):
        s = seen[host]
        assert s["sum"] == 3.0  # 1 + 2: both ranks took part
        assert s["rc"]["current_host"] == host and s["rc"]["hosts"] == ["algo-1", "algo-2"]
        # The interface that carries the node's address (here eth0 or lo), as NCCL needs.
        assert s["rc"]["network_interface_name"] in s["ifaces"]
        env = s["env"]
        assert json.loads(env["SM_HOSTS"]) == ["algo-1", "algo-2"]
        assert env["SM_CURRENT_HOST"] == host and env["RANK"] == str(i)
        assert env["WORLD_SIZE"] == "2" and env["MASTER_ADDR"] == "algo-1"
        assert env["SM_NUM_CPUS"] == "1" and env["SM_NUM_GPUS"] == "0"
    instances = record.state["instances"]
    assert [i["host"] for i in instances] == ["algo-1", "algo-2"]
    # Two one-CPU workers and a one-CPU instance each: on different nodes.
    assert instances[0]["node_id"] != instances[1]["node_id"]
    assert seen["algo-1"]["resolved"]["algo-2"] == instances[1]["node_ip"]
    # ml.m5.large (2 vCPUs, 8 GiB) is larger than a worker: scaled down, and said so.
    assert any("larger than the largest Ray node" in n for n in record.state["resource_notes"])
    # The model comes from algo-1's /opt/ml/model.
    model = desc["ModelArtifacts"]["S3ModelArtifacts"]
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes(model))) as tar:
        assert tar.extractfile("host.txt").read() == b"algo-1"


SHARD = """
import json, os
root = "/opt/ml/processing/input"
names = sorted(os.listdir(root))
host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
os.makedirs("/opt/ml/processing/output", exist_ok=True)
for name in names:
    data = open(os.path.join(root, name)).read()
    open(f"/opt/ml/processing/output/{name}.{host}", "w").write(data.upper())
print("SHARD", host, json.dumps(names), flush=True)
"""


def test_sharded_processing_sees_each_object_exactly_once(store, make_image):
    b = store.bucket
    keys = [f"part-{i:02d}.txt" for i in range(7)]
    for key in keys:
        store.put_bytes(f"s3://{b}/in/{key}", key.encode())
    image = make_image("shard", {"shard.py": SHARD}, ["python", "/opt/program/shard.py"])
    req = processing_request(
        "shard-1",
        image,
        count=2,
        ProcessingInputs=[
            {
                "InputName": "input",
                "S3Input": {
                    "S3Uri": f"s3://{b}/in",
                    "LocalPath": "/opt/ml/processing/input",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "ShardedByS3Key",
                },
            }
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": f"s3://{b}/out",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )
    jobs.create_processing_job(req)
    record = jobs.wait("processing", "shard-1", timeout=240)
    desc = jobs.describe_processing_job("shard-1")
    assert desc["ProcessingJobStatus"] == "Completed", (
        desc.get("FailureReason"),
        record.log_path.read_text(),
    )
    outputs = sorted(o.key.rsplit("/", 1)[1] for o in store.list(f"s3://{b}/out/"))
    processed = sorted(name.rsplit(".", 1)[0] for name in outputs)
    assert processed == keys  # every object once, none twice
    hosts = {name.rsplit(".", 1)[1] for name in outputs}
    assert hosts == {"algo-1", "algo-2"}
    for name in outputs:
        assert store.get_bytes(f"s3://{b}/out/{name}") == name.rsplit(".", 1)[0].upper().encode()
    nodes = {i["node_id"] for i in record.state["instances"]}
    assert len(nodes) == 2


TICKER = """
import time
i = 0
while True:
    print(f"tick {i}", flush=True)
    i += 1
    time.sleep(0.2)
"""


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_logs_stream_and_stop_and_max_runtime_kill_the_remote_process(store, make_image):
    image = make_image("ticker", {"ticker.py": TICKER}, ["python", "/opt/program/ticker.py"])
    jobs.create_training_job(training_request("tick-stop", image, store.bucket))
    req = training_request("tick-timeout", image, store.bucket)
    req["StoppingCondition"]["MaxRuntimeInSeconds"] = 10  # counted from the job's start
    jobs.create_training_job(req)

    def ticking(name: str) -> bool:
        record = records.get("training", name)
        return record.status == "InProgress" and "tick 2" in _text(record.log_path)

    # The log reaches the engine while the job runs (what `stepline jobs logs --follow` reads).
    _wait_for(lambda: ticking("tick-stop"), 150)
    jobs.stop_training_job("tick-stop")
    for name, final in (("tick-stop", "Stopped"), ("tick-timeout", "MaxRuntimeExceeded")):
        record = jobs.wait("training", name, timeout=150)
        desc = jobs.describe_training_job(name)
        assert desc["TrainingJobStatus"] == "Stopped", desc.get("FailureReason")
        assert desc["SecondaryStatus"] == final
        assert "tick 1" in record.log_path.read_text()
    _wait_for(lambda: not processes_with("/opt/program/ticker.py"), 30)  # nothing left running


def _text(path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
