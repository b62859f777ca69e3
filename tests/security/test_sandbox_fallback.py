"""The container fallback: where bubblewrap cannot run, a process-built image is rebuilt by
the container engine and its job runs in a container (``STEPLINE_SANDBOX=container`` forces
it, as on a machine without user namespaces)."""

from __future__ import annotations

import json

import sandbox_support

from stepline import images, jobs
from stepline.images import container_engine
from support.job_requests import processing_request, s3_input, s3_output

home = sandbox_support.home

#: The offline base image stands in for Docker Hub's python image (no registry here); it has
#: python3, which is all the job needs.
PYTHON_TAG = "docker.io/library/python:3.11"

JOB = """
import json
rows = open("/opt/ml/processing/input/raw/rows.txt").read().split()
with open("/opt/ml/processing/input/raw/rows.txt", "a") as fh:
    fh.write("written by the job\\n")
with open("/opt/ml/processing/output/out/count.json", "w") as fh:
    json.dump({"rows": len(rows)}, fh)
"""


def test_forced_container_fallback_rebuilds_once_and_runs(
    container_base, store, make_image, monkeypatch
) -> None:
    tagged = not container_engine.image_exists(PYTHON_TAG)
    if tagged:
        container_engine.run("tag", container_base, PYTHON_TAG)
    try:
        image = make_image("fallback", {"job.py": JOB}, ["python3", "/opt/program/job.py"])
        process_build = images.resolve(image)
        monkeypatch.setenv("STEPLINE_SANDBOX", "container")
        store.put_bytes("s3://bucket/raw/rows.txt", b"a\nb\nc\n")
        for name in ("fb-1", "fb-2"):
            req = processing_request(
                name,
                image,
                ProcessingInputs=[
                    s3_input("raw", "s3://bucket/raw", "/opt/ml/processing/input/raw")
                ],
                ProcessingOutputConfig={
                    "Outputs": [
                        s3_output("out", f"s3://bucket/{name}", "/opt/ml/processing/output/out")
                    ]
                },
            )
            jobs.create_processing_job(req)
            done = jobs.wait("processing", name, timeout=180)
            assert done.status == "Completed", (
                done.state.get("failure_reason"),
                done.log_path.read_text(),
            )
            assert json.loads(store.get_bytes(f"s3://bucket/{name}/count.json")) == {"rows": 3}
            assert done.state["runtime_name"] == "container"
            assert done.state["sandbox"] == "container runtime"
            rebuilt = done.state["image_rebuilt"]
            assert rebuilt["runtime"] == "container"
            # No overlays in containers: the input is a private copy, and the record says so.
            assert (
                "copied" in done.state["input_staging"][0]
                or "cloned" in done.state["input_staging"][0]
            )
            assert store.get_bytes("s3://bucket/raw/rows.txt") == b"a\nb\nc\n"
        # Rebuilt once: the process build remembers its container build; the tag is unmoved.
        record = images.ImageStore().record(process_build.digest)
        assert record["container_build"] == rebuilt["digest"]
        assert images.resolve(image).digest == process_build.digest
    finally:
        if tagged:
            container_engine.run("untag", container_base, PYTHON_TAG, check=False)
