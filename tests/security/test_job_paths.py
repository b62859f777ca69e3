"""Every container path in a request is checked; the supervisor never follows a job's symlink
out of the job folder (issue 10, row 3).

The supervisor runs outside the sandbox.  A ``LocalPath`` with ``..`` once led it to write a
job-made file into a host folder and upload a host file; a job that swaps its output folder
for a symlink to a host folder must not get that folder uploaded either.
"""

from __future__ import annotations

import io
import json
import tarfile

import pytest
import sandbox_support

from stepline import jobs
from stepline.errors import ValidationException
from support.job_requests import processing_request, s3_input, s3_output, training_request

home = sandbox_support.home

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/none:latest"


@pytest.mark.parametrize(
    "field,request_",
    [
        (
            "ProcessingInputs[0].S3Input.LocalPath",
            processing_request(
                "p",
                IMAGE,
                ProcessingInputs=[
                    s3_input("in", "s3://bucket/in", "/opt/ml/processing/../../root/x")
                ],
            ),
        ),
        (
            "ProcessingOutputConfig.Outputs[0].S3Output.LocalPath",
            processing_request(
                "p",
                IMAGE,
                ProcessingOutputConfig={
                    "Outputs": [s3_output("o", "s3://bucket/o", "/opt/ml/processing/out/../../..")]
                },
            ),
        ),
        (
            "CheckpointConfig.LocalPath",
            training_request(
                "t",
                IMAGE,
                CheckpointConfig={"S3Uri": "s3://bucket/ck", "LocalPath": "/opt/ml/../../etc"},
            ),
        ),
    ],
)
def test_dot_dot_is_refused_naming_the_field(home, field, request_) -> None:
    kind = "processing" if "ProcessingJobName" in request_ else "training"
    with pytest.raises(ValidationException) as err:
        jobs.validate(kind, request_)
    assert f"{field}: '..' is not allowed" in str(err.value)


def test_channel_named_dot_dot_is_refused(home) -> None:
    channel = {
        "ChannelName": "..",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/x"}},
    }
    with pytest.raises(ValidationException, match=r"InputDataConfig\[0\]\.ChannelName"):
        jobs.validate("training", training_request("t", IMAGE, InputDataConfig=[channel]))


def test_container_paths_are_normalised(home) -> None:
    req = jobs.validate(
        "processing",
        processing_request(
            "p",
            IMAGE,
            ProcessingInputs=[s3_input("in", "s3://bucket/in", "/opt/ml/processing//in/./a/")],
        ),
    )
    assert req["ProcessingInputs"][0]["S3Input"]["LocalPath"] == "/opt/ml/processing/in/a"
    with pytest.raises(ValidationException, match="reserved container path"):
        jobs.validate(
            "training",
            training_request("t", IMAGE, CheckpointConfig={"S3Uri": "s3://b/c", "LocalPath": "/"}),
        )


PLANT_OUTPUT = """
import os, shutil, sys
out = "/opt/ml/processing/output/result"
shutil.rmtree(out)
os.symlink(sys.argv[1], out)  # the host folder, named by its host path
"""


def test_output_folder_swapped_for_a_symlink_is_not_uploaded(store, make_image, tmp_path) -> None:
    host_dir = tmp_path / "host-secrets"
    host_dir.mkdir()
    (host_dir / "id_rsa").write_text("PRIVATE KEY")
    image = make_image("plant", {"p.py": PLANT_OUTPUT}, ["python3", "/opt/program/p.py"])
    req = processing_request(
        "plant-1",
        image,
        AppSpecification={"ImageUri": image, "ContainerArguments": [str(host_dir)]},
        ProcessingOutputConfig={
            "Outputs": [s3_output("r", "s3://bucket/result", "/opt/ml/processing/output/result")]
        },
    )
    jobs.create_processing_job(req)
    done = jobs.wait("processing", "plant-1", timeout=60)
    assert done.status == "Failed"
    assert "leads outside the job folder" in done.state["failure_reason"]
    assert not store.exists("s3://bucket/result/id_rsa")


PLANT_MODEL = """
import os, shutil, sys
shutil.rmtree("/opt/ml/model")
os.symlink(sys.argv[1], "/opt/ml/model")
"""


def test_model_folder_swapped_for_a_symlink_is_not_packed(store, make_image, tmp_path) -> None:
    host_dir = tmp_path / "host-secrets"
    host_dir.mkdir()
    (host_dir / "token").write_text("s3cr3t")
    image = make_image("plantm", {"p.py": PLANT_MODEL}, ["python3", "/opt/program/p.py"])
    req = training_request(
        "plantm-1",
        image,
        AlgorithmSpecification={
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "ContainerArguments": [str(host_dir)],
        },
    )
    jobs.create_training_job(req)
    done = jobs.wait("training", "plantm-1", timeout=60)
    assert done.status == "Failed"
    assert "leads outside the job folder" in done.state["failure_reason"]
    uri = "s3://bucket/models/plantm-1/output/model.tar.gz"
    if store.exists(uri):
        with tarfile.open(fileobj=io.BytesIO(store.get_bytes(uri))) as tar:
            assert "token" not in tar.getnames()


PLANT_FAILURE = """
import os, sys
os.makedirs("/opt/ml/output", exist_ok=True)
os.symlink(sys.argv[1], "/opt/ml/output/failure")
sys.exit(3)
"""


def test_failure_file_symlink_is_not_read_or_written_through(store, make_image, tmp_path) -> None:
    host_file = tmp_path / "host-file"
    host_file.write_text("HOST SECRET")
    image = make_image("plantf", {"p.py": PLANT_FAILURE}, ["python3", "/opt/program/p.py"])
    for kind, req in (
        (
            "processing",
            processing_request(
                "plantf-p",
                image,
                AppSpecification={"ImageUri": image, "ContainerArguments": [str(host_file)]},
            ),
        ),
        (
            "training",
            training_request(
                "plantf-t",
                image,
                AlgorithmSpecification={
                    "TrainingImage": image,
                    "TrainingInputMode": "File",
                    "ContainerArguments": [str(host_file)],
                },
                HyperParameters={"sagemaker_program": json.dumps("p.py")},
            ),
        ),
    ):
        name = req.get("ProcessingJobName") or req["TrainingJobName"]
        getattr(jobs, f"create_{kind}_job")(req)
        done = jobs.wait(kind, name, timeout=60)
        assert done.status == "Failed"
        assert "HOST SECRET" not in done.state["failure_reason"]
        assert host_file.read_text() == "HOST SECRET"  # never written through the link


PLANT_CHECKPOINTS = """
import os, shutil, sys, time
open("/opt/ml/checkpoints/own.ckpt", "w").write("mine")
time.sleep(1.5)
shutil.rmtree("/opt/ml/checkpoints")
os.symlink(sys.argv[1], "/opt/ml/checkpoints")
time.sleep(2.5)  # the supervisor syncs checkpoints every second
"""


def test_checkpoint_folder_swapped_for_a_symlink_is_not_synced(store, make_image, tmp_path) -> None:
    host_dir = tmp_path / "host-secrets"
    host_dir.mkdir()
    (host_dir / "credentials").write_text("aws_secret_access_key=x")
    image = make_image("plantc", {"p.py": PLANT_CHECKPOINTS}, ["python3", "/opt/program/p.py"])
    req = training_request(
        "plantc-1",
        image,
        AlgorithmSpecification={
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "ContainerArguments": [str(host_dir)],
        },
        CheckpointConfig={"S3Uri": "s3://bucket/ck", "LocalPath": "/opt/ml/checkpoints"},
    )
    jobs.create_training_job(req)
    done = jobs.wait("training", "plantc-1", timeout=60)
    assert done.status == "Completed", (done.state.get("failure_reason"), done.log_path.read_text())
    assert store.get_bytes("s3://bucket/ck/own.ckpt") == b"mine"  # synced while it was real
    assert not store.exists("s3://bucket/ck/credentials")


@pytest.mark.parametrize("entry", ["../../outside.txt", "/etc/passwd", "a/../../b"])
def test_manifest_entries_cannot_leave_the_channel(store, make_image, entry) -> None:
    store.put_bytes("s3://bucket/data/a.txt", b"a")
    store.put_bytes(
        "s3://bucket/manifest.json",
        json.dumps([{"prefix": "s3://bucket/data/"}, "a.txt", entry]).encode(),
    )
    image = make_image("manifest", {"p.py": "print('ran')\n"}, ["python3", "/opt/program/p.py"])
    channel = {
        "ChannelName": "train",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "ManifestFile",
                "S3Uri": "s3://bucket/manifest.json",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    jobs.create_training_job(training_request("mf-1", image, InputDataConfig=[channel]))
    done = jobs.wait("training", "mf-1", timeout=60)
    assert done.status == "Failed"
    reason = done.state["failure_reason"]
    assert "entry 2" in reason and "not allowed" in reason, reason
