"""Processing job contract details, and the ``stepline jobs`` commands."""

from __future__ import annotations

import json
import time

import pytest

from stepline import jobs
from stepline.cli import main


def test_processing_contract(store, make_image, processing_request):
    store.put_bytes("s3://bucket/in/a.txt", b"alpha")
    code = """
    import json, os, sys
    cfg = json.load(open("/opt/ml/config/processingjobconfig.json"))
    rc = json.load(open("/opt/ml/config/resourceconfig.json"))
    print("ARGS", json.dumps(sys.argv[1:]), "ENV", os.environ.get("MODE"), flush=True)
    print("CFG", json.dumps({"name": cfg["ProcessingJobName"], "arn": cfg["ProcessingJobArn"],
          "entry": cfg["AppSpecification"]["ContainerEntrypoint"],
          "dl": cfg["ProcessingInputs"][0]["S3Input"]["S3DownloadMode"], "rc": rc}), flush=True)
    assert os.path.isdir("/opt/ml/processing/out/empty-before-start")
    data = open("/opt/ml/processing/in/a.txt").read()
    open("/opt/ml/processing/out/result.txt", "w").write(data.upper())
    """
    image = make_image("proc", {"p.py": code}, ["python", "/opt/program/p.py"])
    req = processing_request(
        "proc-1",
        image,
        Environment={"MODE": "fast"},
        ProcessingInputs=[
            {
                "InputName": "in",
                "S3Input": {
                    "S3Uri": "s3://bucket/in",
                    "LocalPath": "/opt/ml/processing/in",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": "s3://bucket/out",
                        "LocalPath": "/opt/ml/processing/out",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )
    req["AppSpecification"]["ContainerArguments"] = ["--x", "1"]
    # Output folders exist before the entrypoint runs; a nested one proves it.
    req["ProcessingOutputConfig"]["Outputs"].append(
        {
            "OutputName": "marker",
            "S3Output": {
                "S3Uri": "s3://bucket/marker",
                "LocalPath": "/opt/ml/processing/out/empty-before-start",
                "S3UploadMode": "EndOfJob",
            },
        }
    )
    jobs.create_processing_job(req)
    record = jobs.wait("processing", "proc-1", timeout=30)
    log = record.log_path.read_text()
    assert record.status == "Completed", log
    assert 'ARGS ["--x", "1"] ENV fast' in log
    cfg = json.loads(next(ln for ln in log.splitlines() if ln.startswith("CFG"))[4:])
    assert cfg == {
        "name": "proc-1",
        "arn": "arn:aws:sagemaker:us-east-1:000000000000:processing-job/proc-1",
        "entry": None,
        "dl": "StartOfJob",
        "rc": {"current_host": "algo-1", "hosts": ["algo-1"]},
    }
    assert store.get_bytes("s3://bucket/out/result.txt") == b"ALPHA"
    desc = jobs.describe_processing_job("proc-1")
    assert desc["ProcessingJobStatus"] == "Completed"
    assert "ExitMessage" not in desc
    assert desc["Environment"] == {"MODE": "fast"}


def test_cli_list_describe_logs(store, make_image, training_request, capsys):
    image = make_image(
        "cli", {"t.py": "print('hello from the job')"}, ["python", "/opt/program/t.py"]
    )
    jobs.create_training_job(training_request("cli-1", image))
    jobs.wait("training", "cli-1", timeout=30)

    main(["jobs", "list"])
    out = capsys.readouterr().out
    assert "cli-1" in out and "Completed" in out
    main(["jobs", "list", "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["JobName"] == "cli-1" and listed[0]["Kind"] == "training"
    main(["jobs", "describe", "cli-1", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["TrainingJobStatus"] == "Completed"
    assert doc["Local"]["Image"]["digest"].startswith("sha256:")
    assert doc["Local"]["ExitCode"] == 0
    main(["jobs", "describe", "cli-1"])
    text = capsys.readouterr().out
    assert "training job cli-1  Completed" in text and "sha256:" in text
    main(["jobs", "logs", "cli-1"])
    assert capsys.readouterr().out == "hello from the job\n"
    with pytest.raises(SystemExit):
        main(["jobs", "describe", "nope"])
    assert "no job named 'nope'" in capsys.readouterr().err


def test_logs_follow_while_running(store, make_image, training_request):
    code = (
        "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.2)\n"
    )
    image = make_image("ticker", {"t.py": code}, ["python", "/opt/program/t.py"])
    jobs.create_training_job(training_request("tick-1", image))
    started = time.monotonic()
    text = "".join(jobs.follow_logs("training", "tick-1", follow=True, poll=0.05))
    assert text == "tick 0\ntick 1\ntick 2\n"
    assert time.monotonic() - started < 20
    assert jobs.get_record("training", "tick-1").terminal
