"""Training and processing jobs through the container runtime (podman), end to end.

One image (``FROM`` the offline Debian base, Debian's python3) serves every job: training
runs its entrypoint, processing overrides it with ``ContainerEntrypoint``.  The jobs run at
the same time to keep the module fast.
"""

from __future__ import annotations

import io
import json
import tarfile
import textwrap

import pytest

from stepline import images, jobs

pytestmark = [pytest.mark.podman, pytest.mark.debootstrap]

JOB = """
import json, os, sys
mode = sys.argv[1] if len(sys.argv) > 1 else "train"
if mode == "train":
    cfg = "/opt/ml/input/config"
    hp = json.load(open(f"{cfg}/hyperparameters.json"))
    channels = json.load(open(f"{cfg}/inputdataconfig.json"))
    resources = json.load(open(f"{cfg}/resourceconfig.json"))
    rows = open("/opt/ml/input/data/train/rows.csv").read().split()
    for epoch in range(3):
        print(f"epoch={epoch} loss={1.0 / (epoch + 1)}", flush=True)
    if hp.get("fail") == "yes":
        open("/opt/ml/output/failure", "w").write("container says: labels missing")
        sys.exit(3)
    json.dump(
        {
            "rows": len(rows),
            "hp": hp,
            "channels": sorted(channels),
            "hosts": resources["hosts"],
            "sm_channel": os.environ.get("SM_CHANNEL_TRAIN"),
            "job": os.environ.get("TRAINING_JOB_NAME"),
            "debian": os.path.exists("/etc/debian_version"),
        },
        open("/opt/ml/model/model.json", "w"),
    )
else:
    config = json.load(open("/opt/ml/config/processingjobconfig.json"))
    rows = open("/opt/ml/processing/input/rows.csv").read().split()
    with open("/opt/ml/processing/output/doubled.csv", "w") as out:
        out.write("\\n".join(str(2 * int(r)) for r in rows) + "\\n")
    open("/opt/ml/output/message", "w").write(
        f"{config['ProcessingJobName']} doubled {len(rows)} rows"
    )
"""


@pytest.fixture
def container_image(container_base, tmp_path) -> str:
    ctx = tmp_path / "ctx-container"
    ctx.mkdir()
    (ctx / "job.py").write_text(textwrap.dedent(JOB))
    (ctx / "Dockerfile").write_text(
        f"FROM {container_base}\n"
        "COPY job.py /opt/program/job.py\n"
        'ENTRYPOINT ["python3", "/opt/program/job.py"]\n'
    )
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ctr-job:1"
    image = images.build(ctx, uri, runtime="container")
    assert image.runtime == "container"
    return uri


def test_training_and_processing_in_containers(
    store, container_image, training_request, processing_request
):
    store.put_bytes("s3://bucket/data/rows.csv", b"1\n2\n3\n4\n")
    channel = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/data/"}},
    }
    metric = {"Name": "train:loss", "Regex": "loss=([0-9.]+)"}
    good = training_request("ctr-train", container_image, InputDataConfig=[channel])
    good["HyperParameters"] = {"epochs": "3"}
    good["AlgorithmSpecification"]["MetricDefinitions"] = [metric]
    bad = training_request("ctr-fail", container_image, InputDataConfig=[channel])
    bad["HyperParameters"] = {"fail": "yes"}
    proc = processing_request(
        "ctr-proc",
        container_image,
        AppSpecification={
            "ImageUri": container_image,
            "ContainerEntrypoint": ["python3", "/opt/program/job.py", "process"],
        },
        ProcessingInputs=[
            {
                "InputName": "rows",
                "S3Input": {
                    "S3Uri": "s3://bucket/data/",
                    "LocalPath": "/opt/ml/processing/input",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "doubled",
                    "S3Output": {
                        "S3Uri": "s3://bucket/doubled",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )
    jobs.create_training_job(good)
    jobs.create_training_job(bad)
    jobs.create_processing_job(proc)

    done = jobs.wait("training", "ctr-train", timeout=120)
    assert done.status == "Completed", done.state.get("failure_reason")
    desc = jobs.describe_training_job("ctr-train")
    assert jobs.local_details(done)["Runtime"] == "container"
    uri = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == "s3://bucket/models/ctr-train/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes(uri))) as tar:
        model = json.load(tar.extractfile("model.json"))
    assert model == {
        "rows": 4,
        "hp": {"epochs": "3"},
        "channels": ["train"],
        "hosts": ["algo-1"],
        "sm_channel": "/opt/ml/input/data/train",
        "job": "ctr-train",
        "debian": True,
    }
    assert [(m["MetricName"], m["Value"]) for m in desc["FinalMetricDataList"]] == [
        ("train:loss", pytest.approx(1 / 3))
    ]
    log = done.log_path.read_text()
    assert log.splitlines()[0] == "epoch=0 loss=1.0", log  # the job's output only

    failed = jobs.wait("training", "ctr-fail", timeout=120)
    assert failed.status == "Failed"
    # A container's own failure file, behind the prefix AWS shows.
    assert jobs.describe_training_job("ctr-fail")["FailureReason"] == (
        "AlgorithmError: container says: labels missing"
    )
    assert failed.state["exit_code"] == 3

    processed = jobs.wait("processing", "ctr-proc", timeout=120)
    assert processed.status == "Completed", processed.state.get("failure_reason")
    pdesc = jobs.describe_processing_job("ctr-proc")
    assert pdesc["ExitMessage"] == "ctr-proc doubled 4 rows"
    assert store.get_bytes("s3://bucket/doubled/doubled.csv") == b"2\n4\n6\n8\n"
