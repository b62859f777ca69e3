"""Regenerate ``tests/jobs/data/dssdk_seed_pipeline.asl.json`` with AWS's own Data Science SDK.

The fixture is the definition AWS's Step Functions Data Science SDK generates for a
Processing -> Training -> Model -> EndpointConfig -> Endpoint pipeline, so stepline is tested
against what real users deploy.  Runs offline (no AWS calls) with placeholder account and
role; needs packages that are NOT project dependencies::

    pip install "stepfunctions==2.3.0" "sagemaker<3"
    python scripts/make_dssdk_fixture.py [OUTPUT]

A region is set only so the SDK's boto session can be built; nothing is sent.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/FakeSageMakerExecutionRole"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[1] / "tests/jobs/data/dssdk_seed_pipeline.asl.json"
)


def build_definition() -> dict:
    """The pipeline's ASL definition, as the SDK renders it."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "placeholder")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "placeholder")
    import boto3
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
    from stepfunctions.inputs import ExecutionInput
    from stepfunctions.steps import (
        Catch,
        Chain,
        EndpointConfigStep,
        EndpointStep,
        Fail,
        ModelStep,
        ProcessingStep,
        Retry,
        TrainingStep,
    )
    from stepfunctions.workflow import Workflow

    import sagemaker

    session = sagemaker.Session(
        boto_session=boto3.Session(region_name=REGION), default_bucket="bucket"
    )
    execution_input = ExecutionInput(
        schema={
            "PreprocessingJobName": str,
            "TrainingJobName": str,
            "ModelName": str,
            "EndpointConfigName": str,
            "EndpointName": str,
        }
    )
    processor = Processor(
        role=ROLE,
        image_uri=f"{ECR}/seed-preprocess:latest",
        instance_count=1,
        instance_type="ml.m5.xlarge",
        volume_size_in_gb=30,
        env={"PYTHONUNBUFFERED": "1"},
        sagemaker_session=session,
    )
    preprocess = ProcessingStep(
        "Preprocess data",
        processor=processor,
        job_name=execution_input["PreprocessingJobName"],
        inputs=[
            ProcessingInput(
                source="s3://bucket/raw", destination="/opt/ml/processing/input", input_name="raw"
            ),
            ProcessingInput(
                source="s3://bucket/code/preprocessing.py",
                destination="/opt/ml/processing/input/code",
                input_name="code",
            ),
        ],
        outputs=[
            ProcessingOutput(
                source="/opt/ml/processing/train",
                destination="s3://bucket/processed/train",
                output_name="train",
            ),
            ProcessingOutput(
                source="/opt/ml/processing/validation",
                destination="s3://bucket/processed/validation",
                output_name="validation",
            ),
        ],
        container_arguments=["--split-ratio", "0.2"],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/preprocessing.py"],
    )
    estimator = Estimator(
        image_uri=f"{ECR}/seed-train:latest",
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        volume_size=30,
        max_run=86400,
        output_path="s3://bucket/models",
        sagemaker_session=session,
        tags=[{"Key": "project", "Value": "seed"}],
    )
    train_uri = "$['ProcessingOutputConfig']['Outputs'][0]['S3Output']['S3Uri']"
    val_uri = "$['ProcessingOutputConfig']['Outputs'][1]['S3Output']['S3Uri']"
    training = TrainingStep(
        "Train model",
        estimator=estimator,
        data={
            "train": TrainingInput(train_uri, content_type="text/csv"),
            "validation": TrainingInput(val_uri, content_type="text/csv"),
        },
        job_name=execution_input["TrainingJobName"],
        hyperparameters={"epochs": 10, "learning_rate": 0.05},
    )
    # The SDK writes the S3 URIs as literals; make them JSONPath references to the
    # processing step's output, as a user wiring the two steps does.
    params = training.fields["parameters"]
    for channel in params["InputDataConfig"]:
        source = channel["DataSource"]["S3DataSource"]
        source["S3Uri.$"] = source.pop("S3Uri")
    model = ModelStep(
        "Save model",
        model=training.get_expected_model(),
        model_name=execution_input["ModelName"],
    )
    endpoint_config = EndpointConfigStep(
        "Create endpoint config",
        endpoint_config_name=execution_input["EndpointConfigName"],
        model_name=execution_input["ModelName"],
        initial_instance_count=1,
        instance_type="ml.m5.large",
    )
    endpoint = EndpointStep(
        "Create endpoint",
        endpoint_name=execution_input["EndpointName"],
        endpoint_config_name=execution_input["EndpointConfigName"],
    )
    failed = Fail("Pipeline failed", error="SeedPipelineError", cause="SageMaker job failed")
    for step in (preprocess, training):
        step.add_retry(
            Retry(
                error_equals=["SageMaker.AmazonSageMakerException"],
                interval_seconds=15,
                max_attempts=2,
                backoff_rate=2.0,
            )
        )
        step.add_catch(Catch(error_equals=["States.TaskFailed"], next_step=failed))
    for step in (model, endpoint_config, endpoint):
        step.add_catch(Catch(error_equals=["States.ALL"], next_step=failed))
    chain = Chain([preprocess, training, model, endpoint_config, endpoint])
    workflow = Workflow(name="seed-pipeline", definition=chain, role=ROLE)
    return json.loads(workflow.definition.to_json(pretty=True))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    output = Path(args[0]) if args else DEFAULT_OUTPUT
    definition = build_definition()
    output.write_text(json.dumps(definition, indent=4) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
