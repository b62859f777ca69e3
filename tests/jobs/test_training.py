"""Training jobs: the container contract, artifacts, metrics, failures, stops, checkpoints."""

from __future__ import annotations

import io
import json
import tarfile
import time

import pytest

from stepline import jobs

PROBE = """
import json, os, sys
print("ARGV", json.dumps(sys.argv[1:]), flush=True)
seen = {
    "hp": json.load(open("/opt/ml/input/config/hyperparameters.json")),
    "idc": json.load(open("/opt/ml/input/config/inputdataconfig.json")),
    "rc": json.load(open("/opt/ml/input/config/resourceconfig.json")),
    "train": sorted(os.listdir("/opt/ml/input/data/train")),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("SM_", "TRAINING_JOB", "MY_"))},
}
print("SEEN", json.dumps(seen), flush=True)
for epoch in range(3):
    print(f"epoch={epoch} train_loss={1.0 / (epoch + 1):.4f};", flush=True)
    print(f"accuracy: {0.5 + epoch / 10}", file=sys.stderr, flush=True)
os.makedirs("/opt/ml/model/sub", exist_ok=True)
open("/opt/ml/model/weights.txt", "w").write("w=42")
open("/opt/ml/model/sub/config.json", "w").write("{}")
open("/opt/ml/output/data/report.txt", "w").write("done")
"""


def _seen(record) -> dict:
    for line in record.log_path.read_text().splitlines():
        if line.startswith("SEEN "):
            return json.loads(line[5:])
    raise AssertionError(record.log_path.read_text())


def _tar_members(store, uri: str) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes(uri))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_training_contract_artifacts_and_metrics(store, make_image, training_request):
    store.put_bytes("s3://bucket/data/train/train.csv", b"1,2\n")
    store.put_bytes("s3://bucket/data/train/more/b.csv", b"3,4\n")
    image = make_image("probe", {"train.py": PROBE}, ["python", "/opt/program/train.py"])
    req = training_request(
        "probe-1",
        image,
        HyperParameters={"epochs": "3", "lr": "0.1"},
        Environment={"MY_VAR": "x"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/data/train"}
                },
            }
        ],
    )
    req["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "train:loss", "Regex": "train_loss=([0-9.]+);"},
        {"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"},
    ]
    resp = jobs.create_training_job(req)
    assert resp == {
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:000000000000:training-job/probe-1"
    }
    record = jobs.wait("training", "probe-1", timeout=30)
    desc = jobs.describe_training_job("probe-1")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["SecondaryStatus"] == "Completed"
    assert [t["Status"] for t in desc["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert desc["CreationTime"] <= desc["TrainingStartTime"] <= desc["TrainingEndTime"]
    assert desc["BillableTimeInSeconds"] >= 1
    assert desc["HyperParameters"] == {"epochs": "3", "lr": "0.1"}
    model_uri = "s3://bucket/models/probe-1/output/model.tar.gz"
    assert desc["ModelArtifacts"] == {"S3ModelArtifacts": model_uri}
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert final == {"train:loss": pytest.approx(0.3333), "accuracy": pytest.approx(0.7)}
    over_time = [
        m["Value"] for m in jobs.local_details(record)["Metrics"] if m["MetricName"] == "train:loss"
    ]
    assert over_time == [1.0, 0.5, pytest.approx(0.3333)]

    # The container saw the SageMaker contract.
    assert 'ARGV ["train"]' in record.log_path.read_text()
    seen = _seen(record)
    assert seen["hp"] == {"epochs": "3", "lr": "0.1"}
    assert seen["idc"] == {
        "train": {
            "ContentType": "text/csv",
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
    }
    assert seen["rc"]["current_host"] == "algo-1" and seen["rc"]["hosts"] == ["algo-1"]
    assert seen["train"] == ["more", "train.csv"]
    env = seen["env"]
    assert env["TRAINING_JOB_NAME"] == "probe-1"
    assert env["TRAINING_JOB_ARN"] == resp["TrainingJobArn"]
    assert env["MY_VAR"] == "x"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_HP_EPOCHS"] == "3" and env["SM_HP_LR"] == "0.1"
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "lr": 0.1}
    assert json.loads(env["SM_USER_ARGS"]) == ["--epochs", "3", "--lr", "0.1"]
    assert json.loads(env["SM_CHANNELS"]) == ["train"]

    # Artifacts.
    assert _tar_members(store, model_uri) == {"weights.txt": b"w=42", "sub/config.json": b"{}"}
    out = _tar_members(store, "s3://bucket/models/probe-1/output/output.tar.gz")
    assert out == {"report.txt": b"done"}

    # The durable record.
    details = jobs.local_details(record)
    assert details["Image"]["digest"].startswith("sha256:")
    assert details["ExitCode"] == 0
    assert details["Inputs"][0]["uri"] == "s3://bucket/data/train"
    assert details["Resources"]["cpus"] >= 1
    snapshot = json.loads((record.folder / "job.json").read_text())
    assert snapshot["status"] == "Completed" and snapshot["metrics"]


def test_staged_inputs_are_hard_links(store, make_image, training_request):
    store.put_bytes("s3://bucket/big/train/x.bin", b"x" * 1000)
    image = make_image("noop", {"t.py": "print('hi')"}, ["python", "/opt/program/t.py"])
    channel = {
        "ChannelName": "train",
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/big/train"}
        },
    }
    jobs.create_training_job(training_request("links", image, InputDataConfig=[channel]))
    record = jobs.wait("training", "links", timeout=30)
    assert record.status == "Completed"
    staged = record.folder / "ml" / "input" / "data" / "train" / "x.bin"
    assert staged.stat().st_nlink >= 2


def test_failure_file_becomes_failure_reason(store, make_image, training_request):
    code = """
    import sys
    open("/opt/ml/output/failure", "w").write("ValueError: bad data in row 7" + "x" * 2000)
    sys.exit(2)
    """
    image = make_image("fails", {"t.py": code}, ["python", "/opt/program/t.py"])
    jobs.create_training_job(training_request("fails-1", image))
    record = jobs.wait("training", "fails-1", timeout=30)
    desc = jobs.describe(record)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["SecondaryStatus"] == "Failed"
    # The container's failure file, behind the "AlgorithmError: " prefix AWS shows.
    assert desc["FailureReason"].startswith("AlgorithmError: ValueError: bad data in row 7")
    assert len(desc["FailureReason"]) == 1024
    assert jobs.local_details(record)["ExitCode"] == 2
    assert not store.exists("s3://bucket/models/fails-1/output/model.tar.gz")


def test_nonzero_exit_without_failure_file(store, make_image, training_request):
    image = make_image("exit3", {"t.py": "raise SystemExit(3)"}, ["python", "/opt/program/t.py"])
    jobs.create_training_job(training_request("exit-3", image))
    desc = jobs.describe(jobs.wait("training", "exit-3", timeout=30))
    assert desc["FailureReason"] == "AlgorithmError: , exit code: 3"


def test_max_runtime_stops_with_sigterm_and_keeps_artifacts(store, make_image, training_request):
    code = """
    import signal, sys, time
    def on_term(*_):
        open("/opt/ml/model/saved-on-sigterm", "w").write("ok")
        print("got SIGTERM", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    print("sleeping", flush=True)
    time.sleep(60)
    """
    image = make_image("slow", {"t.py": code}, ["python", "/opt/program/t.py"])
    req = training_request("slow-1", image, StoppingCondition={"MaxRuntimeInSeconds": 1})
    jobs.create_training_job(req)
    record = jobs.wait("training", "slow-1", timeout=30)
    desc = jobs.describe(record)
    assert desc["TrainingJobStatus"] == "Stopped"
    assert desc["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "Stopping" in [t["Status"] for t in desc["SecondaryStatusTransitions"]]
    assert "got SIGTERM" in record.log_path.read_text()
    members = _tar_members(store, desc["ModelArtifacts"]["S3ModelArtifacts"])
    assert members == {"saved-on-sigterm": b"ok"}


def test_stop_kills_after_grace(store, make_image, training_request):
    code = """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    time.sleep(60)
    """
    image = make_image("stubborn", {"t.py": code}, ["python", "/opt/program/t.py"])
    jobs.create_training_job(training_request("stubborn-1", image))
    deadline = time.monotonic() + 20
    while "ignoring" not in jobs.get_record("training", "stubborn-1").log_path.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    jobs.stop_training_job("stubborn-1")
    assert jobs.describe_training_job("stubborn-1")["TrainingJobStatus"] == "Stopping"
    record = jobs.wait("training", "stubborn-1", timeout=30)
    assert 0.9 < time.monotonic() - started < 10
    assert record.status == "Stopped" and record.secondary_status == "Stopped"
    assert jobs.local_details(record)["ExitCode"] == 137
    with pytest.raises(jobs.ValidationException):
        jobs.stop_training_job("stubborn-1")


ECHO = "import json, sys; print('ARGS', json.dumps(sys.argv))"


@pytest.mark.parametrize(
    ("entrypoint", "arguments", "expected"),
    [
        (None, None, ["/opt/program/echo.py", "train"]),
        (None, ["--mode", "x"], ["/opt/program/echo.py", "--mode", "x"]),
        (["python", "/opt/program/other.py"], None, ["/opt/program/other.py"]),
        (["python", "/opt/program/other.py"], ["a", "b"], ["/opt/program/other.py", "a", "b"]),
    ],
)
def test_container_entrypoint_and_arguments(
    store, make_image, training_request, entrypoint, arguments, expected
):
    image = make_image(
        "echo", {"echo.py": ECHO, "other.py": ECHO}, ["python", "/opt/program/echo.py"]
    )
    req = training_request("echo-1", image)
    if entrypoint is not None:
        req["AlgorithmSpecification"]["ContainerEntrypoint"] = entrypoint
    if arguments is not None:
        req["AlgorithmSpecification"]["ContainerArguments"] = arguments
    jobs.create_training_job(req)
    record = jobs.wait("training", "echo-1", timeout=30)
    assert record.status == "Completed"
    line = next(ln for ln in record.log_path.read_text().splitlines() if ln.startswith("ARGS"))
    assert json.loads(line[5:]) == expected


def test_script_mode_runs_program_from_sourcedir(store, make_image, training_request):
    script = (
        "import argparse, os, json\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('--epochs', type=int)\n"
        "p.add_argument('--model-dir', default=os.environ['SM_MODEL_DIR'])\n"
        "a = p.parse_args()\n"
        "prog = os.environ['SM_USER_ENTRY_POINT']\n"
        "print('CWD', os.getcwd(), 'EPOCHS', a.epochs, 'PROGRAM', prog)\n"
        "import helper; open(os.path.join(a.model_dir, 'm.txt'), 'w').write(helper.VALUE)\n"
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in {"train.py": script, "helper.py": "VALUE = 'from-helper'\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    store.put_bytes("s3://bucket/code/sourcedir.tar.gz", buf.getvalue())
    image = make_image(
        "framework", {"noop.py": "raise SystemExit(9)"}, ["python", "/opt/program/noop.py"]
    )
    req = training_request(
        "script-1",
        image,
        HyperParameters={
            "epochs": "4",
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://bucket/code/sourcedir.tar.gz"',
        },
    )
    jobs.create_training_job(req)
    record = jobs.wait("training", "script-1", timeout=30)
    log = record.log_path.read_text()
    assert record.status == "Completed", log
    assert "CWD /opt/ml/code EPOCHS 4 PROGRAM train.py" in log
    members = _tar_members(store, "s3://bucket/models/script-1/output/model.tar.gz")
    assert members == {"m.txt": b"from-helper"}
    assert (record.folder / "ml" / "output" / "success").exists()


def test_script_mode_failure_reason_like_the_toolkit(store, make_image, training_request):
    buf = io.BytesIO()
    text = b"raise RuntimeError('boom')\n"
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    store.put_bytes("s3://bucket/code/bad.tar.gz", buf.getvalue())
    image = make_image("framework2", {"noop.py": "pass"}, ["python", "/opt/program/noop.py"])
    hps = {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "s3://bucket/code/bad.tar.gz",
    }
    jobs.create_training_job(training_request("script-bad", image, HyperParameters=hps))
    desc = jobs.describe(jobs.wait("training", "script-bad", timeout=30))
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n")
    assert "RuntimeError: boom" in desc["FailureReason"]
    # The user's command, as the toolkit reports it; never the sandbox's command line.
    assert desc["FailureReason"].endswith('\nCommand "python train.py"'), desc["FailureReason"]


def test_checkpoints_restored_and_synced(store, make_image, training_request):
    store.put_bytes("s3://bucket/ckpt/run1/epoch-1.pt", b"one")
    code = """
    import os
    d = "/opt/ml/checkpoints"
    print("FOUND", sorted(os.listdir(d)), flush=True)
    open(os.path.join(d, "epoch-2.pt"), "w").write("two")
    os.remove(os.path.join(d, "epoch-1.pt"))
    """
    image = make_image("ckpt", {"t.py": code}, ["python", "/opt/program/t.py"])
    req = training_request("ckpt-1", image, CheckpointConfig={"S3Uri": "s3://bucket/ckpt/run1"})
    jobs.create_training_job(req)
    record = jobs.wait("training", "ckpt-1", timeout=30)
    assert record.status == "Completed"
    assert "FOUND ['epoch-1.pt']" in record.log_path.read_text()
    assert store.get_bytes("s3://bucket/ckpt/run1/epoch-2.pt") == b"two"
    assert not store.exists("s3://bucket/ckpt/run1/epoch-1.pt")


def test_duplicate_name_and_missing_input(store, make_image, training_request):
    image = make_image("noop2", {"t.py": "pass"}, ["python", "/opt/program/t.py"])
    channel = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/nothing"}},
    }
    jobs.create_training_job(training_request("dup", image, InputDataConfig=[channel]))
    with pytest.raises(jobs.ResourceInUse):
        jobs.create_training_job(training_request("dup", image))
    desc = jobs.describe(jobs.wait("training", "dup", timeout=30))
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError: Data download failed")
    with pytest.raises(jobs.ResourceNotFound):
        jobs.describe_training_job("nope")


def test_unknown_image_fails_the_job(store, training_request):
    jobs.create_training_job(training_request("noimg", "missing-image:latest"))
    desc = jobs.describe(jobs.wait("training", "noimg", timeout=30))
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError:")
