"""BERT NER on business cards: data -> preprocess -> train -> evaluate -> quality gate -> deploy.

The flagship stepline example, written the way an AWS Step Functions + SageMaker pipeline is
written, and run entirely on this machine:

1. a corpus of OCR-like business cards (``cards.py``: Faker locales, varied layouts, OCR
   noise, fixed seeds) plus the hand-written test cards is uploaded to the object store, once
   per distinct content (``s3://stepline-examples/ner_bert/raw/<corpus>/{train,test}/``);
2. **Preprocess** -- a SageMaker Processing job cuts the cards into words (punctuation split
   off), tags them from the character spans, tokenises with MiniLM's WordPiece tokenizer and
   writes train/validation splits;
3. **Train** -- a SageMaker training job fine-tunes the packaged MiniLM for token
   classification; MetricDefinitions capture loss, F1 and tokens/second;
4. **Evaluate** -- a Processing job on the model artifact scores three test sets
   (in-distribution, shifted, hand-written) on character spans, writes ``evaluation.json``
   and reports the F1s in its ``ExitMessage``;
5. **Check F1** -- a Choice that deploys only when the *shifted* test set's F1 reaches
   ``F1Threshold`` from the execution input (:func:`deploy_steps` is where
   Model/EndpointConfig/Endpoint go).

All jobs run the one image ``images/train`` (preprocessing, training, evaluation and serving
share ``cardtext.py``, so a card is cut into words the same way everywhere).

Run it with ``stepline run examples/ner_bert/pipeline.py`` or
``python examples/ner_bert/pipeline.py [--train-cards N --test-cards N ...]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import cards  # noqa: E402 - the sibling corpus generator

from stepline import images  # noqa: E402
from stepline.sdk.jobs import (  # noqa: E402
    Estimator,
    Model,
    ProcessingInput,
    ProcessingOutput,
    Processor,
    TrainingInput,
)
from stepline.steps import (  # noqa: E402
    Catch,
    Chain,
    Choice,
    ChoiceRule,
    EndpointConfigStep,
    EndpointStep,
    ExecutionInput,
    Fail,
    Graph,
    ModelStep,
    Pass,
    ProcessingStep,
    Retry,
    State,
    States,
    StepInput,
    Succeed,
    Task,
    TrainingStep,
    Wait,
)
from stepline.steps import Path as JsonPath  # noqa: E402
from stepline.storage import ObjectStore, get_store  # noqa: E402
from stepline.workflow import Workflow  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/SteplineExampleRole"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
BUCKET = "stepline-examples"
PREFIX = "ner_bert"
STATE_MACHINE = "ner-bert"

#: What the training log lines look like (``train.py``'s ``metric()``), for SageMaker.
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"train_loss=([0-9.eE+-]+);"},
    {"Name": "validation:loss", "Regex": r"eval_loss=([0-9.eE+-]+);"},
    {"Name": "validation:f1", "Regex": r"eval_f1=([0-9.eE+-]+);"},
    {"Name": "train:tokens_per_second", "Regex": r"train_tokens_per_second=([0-9.eE+-]+);"},
]


@dataclass
class Config:
    """Everything that shapes a run; the defaults are the measured full-size settings."""

    seed: int = 13
    train_cards: int = 7000
    test_cards: int = 500
    max_length: int = 160
    instance_type: str = "ml.m5.xlarge"
    hyperparameters: dict[str, Any] = field(
        default_factory=lambda: {
            "epochs": 1,
            "batch_size": 16,
            "learning_rate": 5e-4,
            "warmup_ratio": 0.1,
            "seed": 13,
            "log_interval": 20,
        }
    )
    f1_threshold: float = 0.85
    endpoint_name: str = "ner-bert"
    max_runtime_seconds: int = 3600

    @property
    def corpus_tag(self) -> str:
        """Names the raw corpus by what generates it, so each size gets its own objects."""
        return f"seed{self.seed}-train{self.train_cards}-test{self.test_cards}"


# -- data -------------------------------------------------------------------------------------


def _generator_id(cfg: Config) -> str:
    """What determines the corpus bytes: the generator's source, the hand-written cards,
    Faker's version, the sizes."""
    import faker

    h = hashlib.sha256((HERE / "cards.py").read_bytes())
    h.update(cards.HANDWRITTEN.read_bytes())
    h.update(f"{faker.VERSION} {cfg.corpus_tag}".encode())
    return h.hexdigest()


#: Where each corpus file goes under the raw prefix: training data and test sets apart, so
#: that editing a test set never invalidates the preprocessing and training caches.
CORPUS_LAYOUT = {
    "train.jsonl": "train/train.jsonl",
    "test.jsonl": "test/test.jsonl",
    "shifted.jsonl": "test/shifted.jsonl",
    "handwritten.jsonl": "test/handwritten.jsonl",
}


def upload_corpus(cfg: Config, store: ObjectStore | None = None, log: Any = print) -> str:
    """Generate the corpus and upload what is missing; returns the raw prefix URI (training
    data under ``train/``, the three test sets under ``test/``).

    Generating the cards takes seconds, so a manifest beside the data records which
    generator made it: when it matches and every object's ETag (MD5) is the one recorded,
    nothing is generated or uploaded, and the Preprocess step sees exactly the same input.
    Otherwise the corpus is generated and only objects whose MD5 differs are uploaded.
    """
    store = store or get_store()
    store.create_bucket(BUCKET)
    prefix = f"s3://{BUCKET}/{PREFIX}/raw/{cfg.corpus_tag}/"
    manifest_uri = f"s3://{BUCKET}/{PREFIX}/manifests/{cfg.corpus_tag}.json"
    generator = _generator_id(cfg)
    if store.exists(manifest_uri):
        manifest = json.loads(store.get_bytes(manifest_uri))
        if manifest.get("generator") == generator and all(
            store.exists(prefix + name) and store.head(prefix + name).etag == md5
            for name, md5 in manifest["objects"].items()
        ):
            log(f"corpus: {prefix} unchanged ({len(manifest['objects'])} objects)")
            return prefix
    objects = {}
    for file, body in sorted(cards.corpus(cfg.seed, cfg.train_cards, cfg.test_cards).items()):
        name = CORPUS_LAYOUT[file]
        uri = prefix + name
        objects[name] = hashlib.md5(body).hexdigest()
        if store.exists(uri) and store.head(uri).etag == objects[name]:
            log(f"corpus: {uri} unchanged ({len(body)} bytes)")
            continue
        store.put_bytes(uri, body, content_type="application/x-ndjson")
        log(f"corpus: uploaded {uri} ({len(body)} bytes)")
    manifest = {"generator": generator, "objects": objects}
    store.put_bytes(manifest_uri, json.dumps(manifest, sort_keys=True).encode())
    return prefix


def build_images(log: Any = print) -> dict[str, str]:
    """Build (or find cached) the example's image; returns ECR-style URIs by role (every job
    runs the one image, Processing jobs with their own entrypoint)."""
    image = images.build(HERE / "images" / "train", "ner-bert-train:latest", runtime="process")
    log(f"image: ner-bert-train:latest {image.digest[:19]}")
    uri = f"{ECR}/ner-bert-train:latest"
    return {"preprocess": uri, "train": uri}


# -- the workflow -----------------------------------------------------------------------------


def _job_name(kind: str) -> Any:
    """``ner-<kind>-<execution name>``: unique per execution, readable in ``stepline jobs``."""
    return States.Format("ner-" + kind + "-{}", JsonPath("$$.Execution.Name"))


def _processor(cfg: Config, image: str) -> Processor:
    return Processor(
        image_uri=image,
        role=ROLE,
        instance_type=cfg.instance_type,
        volume_size_in_gb=10,
        max_runtime_in_seconds=cfg.max_runtime_seconds,
    )


def preprocess_step(cfg: Config, image: str, raw_prefix: str) -> ProcessingStep:
    """Processing job: raw training cards -> token ids + aligned labels, two splits."""
    out = f"s3://{BUCKET}/{PREFIX}/{cfg.corpus_tag}/processed"
    return ProcessingStep(
        "Preprocess",
        processor=_processor(cfg, image),
        job_name=_job_name("prep"),
        inputs=[
            ProcessingInput(raw_prefix + "train/", "/opt/ml/processing/input/raw", input_name="raw")
        ],
        outputs=[
            ProcessingOutput(f"/opt/ml/processing/output/{split}", f"{out}/{split}", split)
            for split in ("train", "validation")
        ],
        container_entrypoint=["python", "/opt/program/preprocess.py"],
        container_arguments=["--max-length", str(cfg.max_length), "--seed", str(cfg.seed)],
        result_selector={"Outputs.$": "$.ProcessingOutputConfig.Outputs"},
        result_path="$.preprocess",
    )


def _output_uri(index: int) -> StepInput:
    """The S3 URI of Preprocess output ``index`` (train, validation)."""
    return StepInput()["preprocess"]["Outputs"][index]["S3Output"]["S3Uri"]


def train_step(cfg: Config, image: str) -> TrainingStep:
    """Training job: fine-tune MiniLM for token classification."""
    estimator = Estimator(
        image_uri=image,
        role=ROLE,
        instance_type=cfg.instance_type,
        volume_size=10,
        max_run=cfg.max_runtime_seconds,
        output_path=f"s3://{BUCKET}/{PREFIX}/{cfg.corpus_tag}/models",
        hyperparameters=dict(sorted(cfg.hyperparameters.items())),
        metric_definitions=METRIC_DEFINITIONS,
    )
    return TrainingStep(
        "Train",
        estimator=estimator,
        job_name=_job_name("train"),
        data={"train": TrainingInput(_output_uri(0)), "validation": TrainingInput(_output_uri(1))},
        result_selector={
            "TrainingJobName.$": "$.TrainingJobName",
            "ModelArtifacts.$": "$.ModelArtifacts",
            "FinalMetricDataList.$": "$.FinalMetricDataList",
        },
        result_path="$.training",
    )


def evaluate_step(cfg: Config, image: str, raw_prefix: str) -> ProcessingStep:
    """Processing job on the model artifact: the three test sets' F1 -> ``evaluation.json``.

    It runs from the training image (same torch/transformers), with its own entrypoint.
    """
    out = f"s3://{BUCKET}/{PREFIX}/{cfg.corpus_tag}/evaluation"
    model = StepInput()["training"]["ModelArtifacts"]["S3ModelArtifacts"]
    return ProcessingStep(
        "Evaluate",
        processor=_processor(cfg, image),
        job_name=_job_name("eval"),
        inputs=[
            ProcessingInput(model, "/opt/ml/processing/model", input_name="model"),
            ProcessingInput(raw_prefix + "test/", "/opt/ml/processing/test", input_name="test"),
        ],
        outputs=[ProcessingOutput("/opt/ml/processing/evaluation", out, "evaluation")],
        container_entrypoint=["python", "/opt/program/evaluate.py"],
        result_selector={
            "ProcessingJobName.$": "$.ProcessingJobName",
            "Report.$": "$.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri",
            "Metrics": States.StringToJson(JsonPath("$.ExitMessage")),
        },
        result_path="$.evaluation",
    )


def deploy_steps(cfg: Config, image: str) -> list[State]:
    """Model -> EndpointConfig -> Endpoint, run when the model passes the quality gate.

    The endpoint (``EndpointName`` in the execution input, ``ner-bert`` by default) serves the
    model from the training image started with ``serve``.  Each execution registers its own
    model and endpoint config; the first creates the endpoint, later ones update it in place
    (createEndpoint fails on an existing endpoint, so its Catch goes to updateEndpoint).
    """
    name = _job_name("bert")
    model = Model(
        image_uri=image,
        model_data=StepInput()["training"]["ModelArtifacts"]["S3ModelArtifacts"],
        role=ROLE,
    )
    create_model = ModelStep("Create model", model=model, model_name=name, result_path="$.model")
    config = EndpointConfigStep(
        "Create endpoint config",
        endpoint_config_name=name,
        model_name=name,
        initial_instance_count=1,
        instance_type=cfg.instance_type,
        result_path="$.endpoint_config",
    )
    endpoint_name = ExecutionInput()["EndpointName"]
    create = EndpointStep(
        "Create endpoint",
        endpoint_name=endpoint_name,
        endpoint_config_name=name,
        result_path="$.endpoint",
    )
    update = EndpointStep(
        "Update endpoint",
        endpoint_name=endpoint_name,
        endpoint_config_name=name,
        update=True,
        result_path="$.endpoint",
    )
    summary = Pass(
        "Deployment summary",
        parameters={
            "message": "shifted test-set F1 passed the threshold; the model is deployed",
            "EndpointName": endpoint_name,
            "ModelArn": StepInput()["model"]["ModelArn"],
            "ModelDataUrl": StepInput()["training"]["ModelArtifacts"]["S3ModelArtifacts"],
            "F1": StepInput()["evaluation"]["Metrics"]["shifted"],
            "Threshold": ExecutionInput()["F1Threshold"],
        },
        result_path="$.deploy",
    )
    create.add_catch(
        Catch(
            error_equals=["SageMaker.AmazonSageMakerException", "SageMaker.ValidationException"],
            next_step=update,
            result_path="$.endpoint_exists",
        )
    )
    # A rollout still in progress (a run right after another) makes updateEndpoint fail, as
    # on AWS: wait for it and try again.
    update.add_retry(
        Retry(
            error_equals=["SageMaker.AmazonSageMakerException", "SageMaker.ValidationException"],
            interval_seconds=2,
            max_attempts=8,
            backoff_rate=1.5,
        )
    )
    done = Succeed("Deployed", comment="The model passed the F1 quality gate and is serving.")
    ready = wait_until_in_service(endpoint_name, then=summary)
    create_model.next(config)
    config.next(create)
    create.next(ready)
    update.next(ready)
    summary.next(done)
    return already_serving(endpoint_name, next_step=create_model, done=done)


def wait_until_in_service(endpoint_name: Any, *, then: State) -> State:
    """Poll the endpoint until it serves (createEndpoint has no ``.sync``; this is how Step
    Functions users wait), so "Deployed" means the model answers requests."""
    describe = Task(
        "Endpoint status",
        resource="arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
        parameters={"EndpointName": endpoint_name},
        result_selector={"Status.$": "$.EndpointStatus"},
        result_path="$.endpoint_status",
    )
    check = Choice("Endpoint in service?")
    pause = Wait("Wait for endpoint", seconds=2)
    check.add_choice(
        ChoiceRule.StringEquals(StepInput()["endpoint_status"]["Status"], "InService"), then
    )
    check.add_choice(
        ChoiceRule.StringEquals(StepInput()["endpoint_status"]["Status"], "Failed"),
        Fail("Endpoint failed", error="EndpointFailed", cause="The endpoint did not come up."),
    )
    check.default_choice(pause)
    pause.next(describe)
    describe.next(check)
    return describe


def already_serving(endpoint_name: Any, *, next_step: State, done: State) -> list[State]:
    """Skip the rollout when the endpoint already serves the very model this run would deploy.

    The endpoint's current model artifact is read with the AWS SDK integration's describe
    calls, as a Step Functions user would; when it is this run's artifact (a rerun whose
    training job was a cache hit reports the reused model's artifact) and the endpoint is
    InService, rolling out an identical model would only cost a blue/green switch.  On AWS
    every run trains a new artifact, so the pipeline always deploys there.
    """
    sdk = "arn:aws:states:::aws-sdk:sagemaker:"
    current = Task(
        "Current endpoint",
        resource=sdk + "describeEndpoint",
        parameters={"EndpointName": endpoint_name},
        result_selector={"Config.$": "$.EndpointConfigName", "Status.$": "$.EndpointStatus"},
        result_path="$.current",
    )
    current_config = Task(
        "Current endpoint config",
        resource=sdk + "describeEndpointConfig",
        parameters={"EndpointConfigName": StepInput()["current"]["Config"]},
        result_selector={"Model.$": "$.ProductionVariants[0].ModelName"},
        result_path="$.current_config",
    )
    current_model = Task(
        "Current model",
        resource=sdk + "describeModel",
        parameters={"ModelName": StepInput()["current_config"]["Model"]},
        result_selector={"ModelDataUrl.$": "$.PrimaryContainer.ModelDataUrl"},
        result_path="$.current_model",
    )
    for step in (current, current_config, current_model):
        # No endpoint yet (or it went away meanwhile): deploy.
        step.add_catch(
            Catch(error_equals=["States.ALL"], next_step=next_step, result_path="$.no_endpoint")
        )
    same = Choice("Already serving it?")
    keep = Pass(
        "Keep serving",
        parameters={
            "message": "the endpoint already serves this model; nothing to roll out",
            "EndpointName": endpoint_name,
            "ModelDataUrl": StepInput()["current_model"]["ModelDataUrl"],
        },
        result_path="$.deploy",
    )
    keep.next(done)
    same.add_choice(
        ChoiceRule.And(
            [
                ChoiceRule.StringEquals(StepInput()["current"]["Status"], "InService"),
                ChoiceRule.StringEqualsPath(
                    StepInput()["current_model"]["ModelDataUrl"],
                    StepInput()["training"]["ModelArtifacts"]["S3ModelArtifacts"],
                ),
            ]
        ),
        keep,
    )
    same.default_choice(next_step)
    current.next(current_config)
    current_config.next(current_model)
    current_model.next(same)
    return [current]


def quality_gate(cfg: Config, image: str) -> Choice:
    """Deploy only when the shifted test set's F1 reaches the execution input's
    ``F1Threshold``: the set made of what training never saw is the honest estimate of how the
    model does on cards from elsewhere."""
    gate = Choice("Check F1")
    gate.add_choice(
        ChoiceRule.NumericGreaterThanEqualsPath(
            StepInput()["evaluation"]["Metrics"]["shifted"], "$$.Execution.Input.F1Threshold"
        ),
        Chain(deploy_steps(cfg, image)),
    )
    gate.default_choice(
        Fail(
            "F1 below threshold",
            error="ModelQualityBelowThreshold",
            cause="The shifted test set's entity F1 is below the execution input's F1Threshold; "
            "not deploying.",
        )
    )
    return gate


def workflow_graph(cfg: Config, image_uris: dict[str, str], raw_prefix: str) -> Graph:
    """The whole state machine as an SDK graph."""
    chain = Chain(
        [
            preprocess_step(cfg, image_uris["preprocess"], raw_prefix),
            train_step(cfg, image_uris["train"]),
            evaluate_step(cfg, image_uris["train"], raw_prefix),
            quality_gate(cfg, image_uris["train"]),
        ]
    )
    return Graph(chain, comment="BERT NER on OCR'd business cards (stepline example)")


# -- running ----------------------------------------------------------------------------------


def build_workflow(cfg: Config | None = None, log: Any = print) -> tuple[Workflow, dict]:
    """Upload the corpus, build the images, and return ``(workflow, default input)``.

    This is what ``stepline run examples/ner_bert/pipeline.py`` calls.
    """
    cfg = cfg or Config()
    raw_prefix = upload_corpus(cfg, log=log)
    image_uris = build_images(log=log)
    workflow = Workflow(STATE_MACHINE, workflow_graph(cfg, image_uris, raw_prefix), role=ROLE)
    return workflow, {"F1Threshold": cfg.f1_threshold, "EndpointName": cfg.endpoint_name}


def run(cfg: Config | None = None, *, name: str | None = None, log: Any = print) -> dict:
    """Build the workflow and run one execution to the end; returns its description.

    The execution is durable (``stepline executions describe`` shows it afterwards).
    """
    started = time.perf_counter()
    workflow, inputs = build_workflow(cfg, log=log)
    workflow.create()
    name = name or f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    execution = workflow.execute(name=name, inputs=inputs, wait=True).describe()
    elapsed = time.perf_counter() - started
    log(f"execution {execution['name']}: {execution['status']} in {elapsed:.1f}s")
    if execution.get("output"):
        evaluation = json.loads(execution["output"]).get("evaluation", {})
        metrics = evaluation.get("Metrics", {})
        figures = ", ".join(
            f"{k} {metrics.get(k)}" for k in ("in_distribution", "shifted", "handwritten")
        )
        log(f"entity F1: {figures} ({evaluation.get('Report')})")
    elif execution.get("error"):
        log(f"error: {execution['error']}: {(execution.get('cause') or '')[:500]}")
    return execution


def parse_args(argv: list[str] | None = None) -> Config:
    """Command-line overrides of :class:`Config` (CI uses a tiny corpus)."""
    cfg = Config()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-cards", type=int, default=cfg.train_cards)
    p.add_argument("--test-cards", type=int, default=cfg.test_cards)
    p.add_argument("--seed", type=int, default=cfg.seed)
    p.add_argument("--max-length", type=int, default=cfg.max_length)
    p.add_argument("--instance-type", default=cfg.instance_type)
    p.add_argument("--f1-threshold", type=float, default=cfg.f1_threshold)
    p.add_argument("--endpoint-name", default=cfg.endpoint_name)
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="training hyperparameter override, e.g. --hp epochs=2 --hp max_steps=5",
    )
    a = p.parse_args(argv)
    hps = dict(cfg.hyperparameters)
    for item in a.hp:
        key, _, value = item.partition("=")
        hps[key] = value
    return Config(
        seed=a.seed,
        train_cards=a.train_cards,
        test_cards=a.test_cards,
        max_length=a.max_length,
        instance_type=a.instance_type,
        hyperparameters=hps,
        f1_threshold=a.f1_threshold,
        endpoint_name=a.endpoint_name,
    )


def main(argv: list[str] | None = None) -> int:
    """Run once with ``argv`` (none: the full-size defaults); 0 when the execution succeeded.

    ``stepline run examples/ner_bert/pipeline.py`` calls ``main()`` without arguments, so the
    caller's own command line is never parsed as the example's.
    """
    execution = run(parse_args(argv or []))
    return 0 if execution["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
