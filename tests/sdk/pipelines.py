"""Pipelines written once against a namespace of SDK classes.

``scripts/make_dssdk_golden.py`` runs them with AWS's Data Science SDK (``stepfunctions`` +
``sagemaker``) to make the goldens; ``test_golden.py`` runs the same code with stepline's
modules.  That is the porting promise, tested literally: the only difference between the two
runs is where the names come from.
"""

from __future__ import annotations

from typing import Any

ROLE = "arn:aws:iam::123456789012:role/FakeSageMakerExecutionRole"
TRAIN_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/seed-train:latest"
PREP_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/seed-preprocess:latest"


def seed(ns: Any) -> Any:
    """The seed pipeline: preprocess -> train -> model -> endpoint config -> endpoint."""
    steps = ns.steps
    execution_input = ns.ExecutionInput(
        schema={
            "PreprocessingJobName": str,
            "TrainingJobName": str,
            "ModelName": str,
            "EndpointConfigName": str,
            "EndpointName": str,
        }
    )
    processor = ns.Processor(
        role=ROLE,
        image_uri=PREP_IMAGE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        volume_size_in_gb=30,
        env={"PYTHONUNBUFFERED": "1"},
        **ns.session_kwargs,
    )
    preprocess = steps.ProcessingStep(
        "Preprocess data",
        processor=processor,
        job_name=execution_input["PreprocessingJobName"],
        inputs=[
            ns.ProcessingInput(
                source="s3://bucket/raw", destination="/opt/ml/processing/input", input_name="raw"
            ),
            ns.ProcessingInput(
                source="s3://bucket/code/preprocessing.py",
                destination="/opt/ml/processing/input/code",
                input_name="code",
            ),
        ],
        outputs=[
            ns.ProcessingOutput(
                source="/opt/ml/processing/train",
                destination="s3://bucket/processed/train",
                output_name="train",
            ),
            ns.ProcessingOutput(
                source="/opt/ml/processing/validation",
                destination="s3://bucket/processed/validation",
                output_name="validation",
            ),
        ],
        container_arguments=["--split-ratio", "0.2"],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/preprocessing.py"],
    )
    estimator = ns.Estimator(
        image_uri=TRAIN_IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        output_path="s3://bucket/models",
        **ns.session_kwargs,
    )
    outputs = preprocess.output()["ProcessingOutputConfig"]["Outputs"]
    train = steps.TrainingStep(
        "Train model",
        estimator=estimator,
        job_name=execution_input["TrainingJobName"],
        data={
            "train": ns.TrainingInput(
                s3_data=outputs[0]["S3Output"]["S3Uri"], content_type="text/csv"
            ),
            "validation": ns.TrainingInput(
                s3_data=outputs[1]["S3Output"]["S3Uri"], content_type="text/csv"
            ),
        },
        hyperparameters={"epochs": 10, "learning_rate": 0.05},
        tags={"project": "seed"},
    )
    model = steps.ModelStep(
        "Save model",
        model=train.get_expected_model(),
        model_name=execution_input["ModelName"],
    )
    endpoint_config = steps.EndpointConfigStep(
        "Create endpoint config",
        endpoint_config_name=execution_input["EndpointConfigName"],
        model_name=execution_input["ModelName"],
        initial_instance_count=1,
        instance_type="ml.m5.large",
    )
    endpoint = steps.EndpointStep(
        "Create endpoint",
        endpoint_name=execution_input["EndpointName"],
        endpoint_config_name=execution_input["EndpointConfigName"],
    )
    failed = steps.Fail("Pipeline failed", error="SeedPipelineError", cause="SageMaker job failed")
    for step in (preprocess, train):
        step.add_retry(
            steps.Retry(
                error_equals=["SageMaker.AmazonSageMakerException"],
                interval_seconds=15,
                max_attempts=2,
                backoff_rate=2.0,
            )
        )
        step.add_catch(steps.Catch(error_equals=["States.TaskFailed"], next_step=failed))
    for step in (model, endpoint_config, endpoint):
        step.add_catch(steps.Catch(error_equals=["States.ALL"], next_step=failed))
    return steps.Chain([preprocess, train, model, endpoint_config, endpoint])


def control_flow(ns: Any) -> Any:
    """Every plain state type, choice rules, branches, an iterator and a Lambda step."""
    steps = ns.steps
    rule = steps.ChoiceRule
    execution_input = ns.ExecutionInput(schema={"threshold": float, "items": list})
    start = steps.Pass(
        "Start",
        parameters={"threshold": execution_input["threshold"], "items": execution_input["items"]},
        comment="copy the execution input",
    )
    score = steps.LambdaStep(
        "Score",
        parameters={"FunctionName": "score", "Payload": {"items": start.output()["items"]}},
        result_path="$.score",
    )
    score.add_retry(
        steps.Retry(error_equals=["Lambda.ServiceException"], interval_seconds=2, max_attempts=3)
    )
    wait = steps.Wait("Cool down", seconds=1)
    wait_until = steps.Wait("Wait until", timestamp_path="$.until")
    branches = steps.Parallel("Fan out", result_path="$.branches")
    branches.add_branch(steps.Pass("Branch A", result={"a": 1}))
    branches.add_branch(
        steps.Chain([steps.Pass("Branch B1"), steps.Wait("Branch B2", seconds_path="$.delay")])
    )
    per_item = steps.Map(
        "Per item",
        iterator=steps.Chain([steps.Pass("Double", parameters={"value.$": "$"})]),
        items_path="$.items",
        max_concurrency=2,
        result_path="$.doubled",
    )
    per_item.add_catch(steps.Catch(error_equals=["States.ALL"], next_step=steps.Fail("Map failed")))
    good = steps.Succeed("Good")
    bad = steps.Fail("Bad", error="LowScore", cause="score below threshold")
    decide = steps.Choice("Decide")
    decide.add_choice(
        rule.And(
            [
                rule.IsPresent("$.score", True),
                rule.NumericGreaterThanEqualsPath("$.score.Payload", "$.threshold"),
            ]
        ),
        good,
    )
    decide.add_choice(rule.Not(rule.StringMatches("$.label", "ok*")), bad)
    decide.add_choice(rule.BooleanEquals("$.force", True), wait_until)
    decide.default_choice(bad)
    wait_until.next(good)
    return steps.Chain([start, score, wait, branches, per_item, decide])


def tuning_transform(ns: Any) -> Any:
    """Train, tune, batch-transform and update an endpoint, with tags and wait flags."""
    steps = ns.steps
    execution_input = ns.ExecutionInput(
        schema={"JobName": str, "TuningJobName": str, "ModelName": str}
    )
    estimator = ns.Estimator(
        image_uri=TRAIN_IMAGE,
        role=ROLE,
        instance_count=2,
        instance_type="ml.c5.2xlarge",
        volume_size=50,
        max_run=3600,
        output_path="s3://bucket/out",
        hyperparameters={"epochs": 10, "optimizer": "adam"},
        metric_definitions=[{"Name": "val:acc", "Regex": "val_acc=([0-9.]+)"}],
        environment={"MODE": "fast"},
        **ns.session_kwargs,
    )
    train = steps.TrainingStep(
        "Train",
        estimator=estimator,
        job_name=execution_input["JobName"],
        data="s3://bucket/train",
        wait_for_completion=False,
    )
    tuner = ns.HyperparameterTuner(
        estimator=estimator,
        objective_metric_name="val:acc",
        hyperparameter_ranges={
            "lr": ns.ContinuousParameter(0.001, 0.1),
            "layers": ns.IntegerParameter(1, 4),
            "act": ns.CategoricalParameter(["relu", "tanh"]),
        },
        metric_definitions=[{"Name": "val:acc", "Regex": "val_acc=([0-9.]+)"}],
        strategy="Random",
        max_jobs=6,
        max_parallel_jobs=2,
    )
    tune = steps.TuningStep(
        "Tune",
        tuner=tuner,
        job_name=execution_input["TuningJobName"],
        data={"train": "s3://bucket/train"},
        tags={"stage": "tune"},
    )
    transformer = ns.Transformer(
        model_name="placeholder-model",
        instance_count=1,
        instance_type="ml.m5.large",
        strategy="MultiRecord",
        assemble_with="Line",
        output_path="s3://bucket/batch-out",
        accept="text/csv",
        **ns.session_kwargs,
    )
    transform = steps.TransformStep(
        "Batch score",
        transformer=transformer,
        job_name="batch-job",
        model_name=execution_input["ModelName"],
        data="s3://bucket/batch-in",
        content_type="text/csv",
        split_type="Line",
    )
    update = steps.EndpointStep(
        "Update endpoint",
        endpoint_name="prod",
        endpoint_config_name="prod-config-2",
        update=True,
        tags={"owner": "ml"},
    )
    return steps.Chain([train, tune, transform, update])


PIPELINES = {
    "seed": seed,
    "control_flow": control_flow,
    "tuning_transform": tuning_transform,
}
