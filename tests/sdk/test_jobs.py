"""Job builders: SageMaker request shapes, hyperparameter encoding, code packaging."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pytest

from stepline.asl import execute, validate
from stepline.sdk.code import SourceArchive
from stepline.sdk.jobs import (
    CategoricalParameter,
    Estimator,
    HyperparameterTuner,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
    TrainingInput,
    Transformer,
)
from stepline.steps import (
    Chain,
    ExecutionInput,
    Graph,
    Pass,
    ProcessingStep,
    TrainingStep,
    TransformStep,
    TuningStep,
)
from stepline.storage import get_store
from stepline.workflow import Workflow

IMAGE = "local/train:latest"


@pytest.fixture
def code(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print('train')\n")
    (src / "pkg" / "util.py").write_text("X = 1\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    return src


def test_plain_estimator_sends_str_hyperparameters():
    est = Estimator(
        image_uri=IMAGE,
        role="r",
        hyperparameters={"epochs": 3, "lr": 0.1, "flag": True, "opt": "adam"},
    )
    request = est.training_request("job", "s3://b/train", {"epochs": 5})
    assert request["HyperParameters"] == {"epochs": "5", "lr": "0.1", "flag": "True", "opt": "adam"}
    assert request["InputDataConfig"] == [
        {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://b/train",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ChannelName": "training",
        }
    ]
    assert request["TrainingJobName"] == "job"
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://stepline-default/"}


def test_script_mode_json_encodes_and_defers_the_upload(home, code):
    est = Estimator(
        image_uri=IMAGE,
        role="r",
        entry_point="train.py",
        source_dir=str(code),
        hyperparameters={"epochs": 3, "opt": "adam"},
        code_location="s3://code/x",
    )
    step = TrainingStep(
        "Train",
        estimator=est,
        job_name="j",
        data={"train": TrainingInput("s3://b/t", content_type="text/csv")},
    )
    params = Graph(step).to_dict()["States"]["Train"]["Parameters"]
    hps = params["HyperParameters"]
    digest = SourceArchive("train.py", str(code)).digest()
    assert hps == {
        "epochs": "3",
        "opt": '"adam"',
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(f"s3://code/x/{digest}/sourcedir.tar.gz"),
    }
    assert params["InputDataConfig"][0]["ContentType"] == "text/csv"
    # Nothing was uploaded by building the step (or rendering it).
    assert get_store().list_buckets() == []


def test_source_archive_is_deterministic_and_content_addressed(code):
    archive = SourceArchive("train.py", str(code))
    first = archive.data()
    os.utime(code / "train.py", (1, 1))
    assert archive.data() == first
    names = tarfile.open(fileobj=io.BytesIO(first)).getnames()
    assert names == ["pkg/util.py", "train.py"]
    for member in tarfile.open(fileobj=io.BytesIO(first)).getmembers():
        assert member.mtime == 0 and member.uid == 0 and member.uname == ""
    assert gzip.decompress(first)  # valid gzip
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime zeroed
    before = archive.uri()
    (code / "train.py").write_text("print('changed')\n")
    assert archive.uri() != before
    assert archive.digest() in archive.uri()


def test_entry_point_without_source_dir_packs_the_file(tmp_path):
    script = tmp_path / "solo.py"
    script.write_text("pass\n")
    est = Estimator(image_uri=IMAGE, role="r", entry_point=str(script))
    hps = est.encoded_hyperparameters()
    assert hps["sagemaker_program"] == '"solo.py"'
    names = tarfile.open(fileobj=io.BytesIO(est.source.data())).getnames()
    assert names == ["solo.py"]


def test_missing_entry_point_is_reported(code):
    est = Estimator(image_uri=IMAGE, role="r", entry_point="nope.py", source_dir=str(code))
    with pytest.raises(FileNotFoundError, match="nope.py"):
        Graph(TrainingStep("T", estimator=est, job_name="j")).to_dict()


def test_workflow_create_uploads_code_once(home, code):
    est = Estimator(image_uri=IMAGE, role="r", entry_point="train.py", source_dir=str(code))
    proc = ScriptProcessor(
        image_uri=IMAGE,
        command=["python3"],
        role="r",
        code=str(code / "train.py"),
        outputs=[ProcessingOutput("/opt/ml/processing/out", "s3://b/out")],
    )
    prep = ProcessingStep("Prep", processor=proc, job_name="p")
    train = TrainingStep("Train", estimator=est, job_name="t")
    workflow = Workflow("upload-test", Chain([prep, train]), role="r")
    uris = workflow.upload_code()
    assert len(uris) == 2
    store = get_store()
    archive_uri = next(u for u in uris if u.endswith("sourcedir.tar.gz"))
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes(archive_uri))) as tar:
        assert tar.extractfile("train.py").read() == b"print('train')\n"
    script_uri = next(u for u in uris if u.endswith("/train.py"))
    assert store.get_bytes(script_uri) == b"print('train')\n"
    definition = workflow.to_dict()
    params = definition["States"]["Prep"]["Parameters"]
    assert params["ProcessingInputs"] == [
        {
            "InputName": "code",
            "AppManaged": False,
            "S3Input": {
                "S3Uri": script_uri,
                "LocalPath": "/opt/ml/processing/input/code",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
                "S3CompressionType": "None",
            },
        }
    ]
    assert params["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/train.py",
    ]
    hps = definition["States"]["Train"]["Parameters"]["HyperParameters"]
    assert json.loads(hps["sagemaker_submit_directory"]) == archive_uri
    assert validate(definition) == []
    assert workflow.upload_code() == uris  # idempotent, same keys


def test_placeholder_hyperparameters_are_stringified_at_run_time():
    ei = ExecutionInput()
    est = Estimator(image_uri=IMAGE, role="r", hyperparameters={"epochs": ei["epochs"]})
    step = TrainingStep("T", estimator=est, job_name="j")
    hps = step.to_dict()["Parameters"]["HyperParameters"]
    assert hps == {"epochs.$": "States.Format('{}', $$.Execution.Input['epochs'])"}
    probe = Pass("Probe", parameters={"HyperParameters": est.encoded_hyperparameters()})
    result = execute(Graph(probe).to_dict(), {"epochs": 12})
    assert result.output == {"HyperParameters": {"epochs": "12"}}


def test_processing_request_with_placeholders_and_step_overrides():
    ei = ExecutionInput()
    proc = ScriptProcessor(
        image_uri=IMAGE,
        command=["python3"],
        role="r",
        code="s3://b/code/prep.py",
        env={"A": "1"},
        max_runtime_in_seconds=60,
    )
    step = ProcessingStep(
        "Prep",
        processor=proc,
        job_name=ei["job"],
        inputs=[ProcessingInput(source=ei["raw"], destination="/opt/ml/processing/input")],
        outputs=[
            ProcessingOutput(
                source="/opt/ml/processing/out", destination="s3://b/o", output_name="out"
            )
        ],
        container_arguments=["--k", "v"],
        tags={"t": "1"},
        parameters={"ProcessingResources": {"ClusterConfig": {"VolumeSizeInGB": 5}}},
    )
    params = step.to_dict()["Parameters"]
    assert params["ProcessingJobName.$"] == "$$.Execution.Input['job']"
    assert params["ProcessingInputs"][0]["S3Input"]["S3Uri.$"] == "$$.Execution.Input['raw']"
    assert params["ProcessingInputs"][1]["S3Input"]["S3Uri"] == "s3://b/code/prep.py"
    assert params["AppSpecification"]["ContainerArguments"] == ["--k", "v"]
    assert params["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "VolumeSizeInGB": 5,
    }
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 60}
    assert params["Environment"] == {"A": "1"}
    assert params["Tags"] == [{"Key": "t", "Value": "1"}]


def test_script_mode_tuner_json_encodes_categoricals_and_statics(code):
    est = Estimator(
        image_uri=IMAGE,
        role="r",
        entry_point="train.py",
        source_dir=str(code),
        hyperparameters={"epochs": 2, "act": "relu"},
    )
    tuner = HyperparameterTuner(
        est, "acc", {"act": CategoricalParameter(["relu", "tanh"])}, max_jobs=2, max_parallel_jobs=1
    )
    params = TuningStep("Tune", tuner=tuner, job_name="tj", data="s3://b/t").to_dict()["Parameters"]
    ranges = params["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert ranges["CategoricalParameterRanges"] == [{"Name": "act", "Values": ['"relu"', '"tanh"']}]
    static = params["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static["epochs"] == "2" and "act" not in static
    assert static["sagemaker_program"] == '"train.py"'


def test_transform_step_overrides_model_name_and_sets_data_processing():
    transformer = Transformer(
        "m", instance_count=1, instance_type="ml.m5.large", output_path="s3://b/out", env={"X": "1"}
    )
    params = TransformStep(
        "Batch",
        transformer=transformer,
        job_name="tj",
        model_name="m2",
        data="s3://b/in",
        input_filter="$[1:]",
        join_source="Input",
        wait_for_completion=False,
    ).to_dict()
    assert params["Resource"] == "arn:aws:states:::sagemaker:createTransformJob"
    assert params["Parameters"]["ModelName"] == "m2"
    assert params["Parameters"]["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input"}
    assert params["Parameters"]["Environment"] == {"X": "1"}


def test_steps_accept_raw_parameters_without_builders():
    raw = {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"a": "1"},
    }
    step = TrainingStep("T", estimator=None, job_name=ExecutionInput()["j"], parameters=raw)
    assert step.to_dict()["Parameters"] == {**raw, "TrainingJobName.$": "$$.Execution.Input['j']"}
