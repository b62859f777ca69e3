"""OCI images on Ray: a container image reaches each node through the object store, once per
node (``podman save`` archive, named by the image's digest, ``podman load`` where missing)."""

from __future__ import annotations

import textwrap

from ray_support import processing_request

from stepline import images, jobs
from stepline.jobs import records
from stepline.jobs.runtimes import ray_images

JOB = """
import json, os
host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
os.makedirs("/opt/ml/processing/output", exist_ok=True)
open(f"/opt/ml/processing/output/{host}.txt", "w").write(open("/etc/debian_version").read())
print("IN CONTAINER", host, flush=True)
"""


def _request(name: str, image: str, bucket: str) -> dict:
    output = {
        "OutputName": "out",
        "S3Output": {
            "S3Uri": f"s3://{bucket}/{name}",
            "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob",
        },
    }
    return processing_request(
        name,
        image,
        count=2,
        AppSpecification={"ImageUri": image, "ContainerEntrypoint": ["python3", "/job.py"]},
        ProcessingOutputConfig={"Outputs": [output]},
    )


def test_a_container_image_is_shipped_once_to_each_node(container_base, store, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "job.py").write_text(textwrap.dedent(JOB))
    (ctx / "Dockerfile").write_text(f"FROM {container_base}\nCOPY job.py /job.py\n")
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ray-ctr:1"
    image = images.build(ctx, uri, runtime="container")
    assert image.runtime == "container"

    pulls = []
    for name in ("ctr-1", "ctr-2"):
        jobs.create_processing_job(_request(name, uri, store.bucket))
        record = jobs.wait("processing", name, timeout=280)
        assert record.status == "Completed", (
            record.state.get("failure_reason"),
            record.log_path.read_text(),
        )
        assert record.state["runtime_name"] == "container"
        instances = record.state["instances"]
        assert len({i["node_id"] for i in instances}) == 2  # one instance on each node
        pulls.append([i["image_downloaded"] for i in instances])
        outputs = sorted(
            o.key.rsplit("/", 1)[1] for o in store.list(f"s3://{store.bucket}/{name}/")
        )
        assert outputs == ["algo-1.txt", "algo-2.txt"]  # both ran Debian, in the container
    # Each node loaded the image for the first job and found it for the second.
    assert pulls == [[True, True], [False, False]]
    # One object in the store, named by the image's digest.
    shipped = store.list(f"s3://{ray_images.image_bucket()}/images/")
    assert [o.uri for o in shipped if image.digest.split(":")[1] in o.key] == [
        ray_images.image_uri(image)
    ]
    assert records.get("processing", "ctr-1").state["image"]["digest"] == image.digest
