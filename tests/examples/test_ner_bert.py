"""The BERT NER example end to end on a tiny corpus, plus its job scripts' contracts.

The end-to-end test runs the real pipeline (object store, process-runtime images, durable
engine, SageMaker Processing/Training jobs) on 40 training and 10 test cards with a few
training steps, and checks every artifact a user would look at.  The script tests point the
jobs at a fake ``/opt/ml`` tree in a tmp dir, the way the scripts are developed.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ner_bert"
PREPROCESS = EXAMPLE / "images" / "preprocess" / "preprocess.py"
TRAIN = EXAMPLE / "images" / "train" / "train.py"


def _load(name: str, path: Path):  # noqa: ANN202 - a module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pipeline():  # noqa: ANN201 - the example module
    sys.path.insert(0, str(EXAMPLE))
    try:
        yield _load("ner_bert_pipeline", EXAMPLE / "pipeline.py")
    finally:
        sys.path.remove(str(EXAMPLE))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    monkeypatch.setenv("STEPLINE_SERVING_STOP_GRACE", "5")  # SageMaker's 30 s, shortened
    return path


def _raw(tmp_path: Path, n_train: int, n_test: int) -> Path:
    sys.path.insert(0, str(EXAMPLE))
    try:
        import cards
    finally:
        sys.path.remove(str(EXAMPLE))
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, body in cards.corpus(7, n_train, n_test).items():
        (raw / name).write_bytes(body)
    return raw


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the corpus and the preprocessing script ---------------------------------------------------


def test_corpus_is_reproducible_and_well_tagged(pipeline) -> None:
    import cards

    a = cards.corpus(3, 30, 5)
    assert a == cards.corpus(3, 30, 5)  # same seed, same bytes: cache keys stay stable
    assert a["test.jsonl"] == cards.corpus(3, 60, 5)["test.jsonl"]  # test set independent
    records = [json.loads(x) for x in a["train.jsonl"].decode().splitlines()]
    assert len(records) == 30
    seen = set()
    for r in records:
        assert len(r["tokens"]) == len(r["tags"])
        assert set(r["tags"]) <= set(cards.LABELS)
        for prev, tag in zip(["O", *r["tags"]], r["tags"], strict=False):
            if tag.startswith("I-"):  # an I- always continues a span of the same type
                assert prev[2:] == tag[2:], r
        seen.update(t[2:] for t in r["tags"] if t != "O")
    assert seen == set(cards.ENTITY_TYPES)


def test_preprocess_aligns_labels_to_first_subtoken_and_truncates(tmp_path: Path) -> None:
    raw = _raw(tmp_path, 20, 4)
    out = tmp_path / "out"
    cmd = [sys.executable, str(PREPROCESS), "--input-dir", str(raw), "--output-dir", str(out)]
    subprocess.run([*cmd, "--max-length", "24"], check=True, capture_output=True)
    train, val, test = (_jsonl(out / s / f"{s}.jsonl") for s in ("train", "validation", "test"))
    assert (len(train), len(val), len(test)) == (18, 2, 4)
    labels = json.loads((out / "train" / "labels.json").read_text())
    sys.path.insert(0, str(EXAMPLE))
    try:
        import cards
    finally:
        sys.path.remove(str(EXAMPLE))
    assert labels == cards.LABELS  # the image's copy of the label list matches the corpus
    sys.path.insert(0, str(PREPROCESS.parent))
    try:
        prep = _load("ner_preprocess", PREPROCESS)
    finally:
        sys.path.remove(str(PREPROCESS.parent))
    tok = prep.load_tokenizer()
    raw_by_id = {r["id"]: r for r in _jsonl(raw / "train.jsonl")}
    for record in train:
        ids, labs = record["input_ids"], record["labels"]
        assert len(ids) == len(labs) <= 24
        assert ids[0] == tok.token_to_id("[CLS]") and ids[-1] == tok.token_to_id("[SEP]")
        assert labs[0] == labs[-1] == -100
        # The labelled positions are the words' first sub-tokens, in order.
        words = raw_by_id[record["id"]]
        kept = [labels[x] for x in labs if x != -100]
        assert kept == words["tags"][: len(kept)]
        enc = tok.encode(words["tokens"], is_pretokenized=True, add_special_tokens=False)
        assert ids[1:-1] == enc.ids[: len(ids) - 2]
    # Same input, same bytes (the pipeline's cache depends on it).
    again = tmp_path / "again"
    subprocess.run(
        [*cmd[:-2], "--output-dir", str(again), "--max-length", "24"],
        check=True,
        capture_output=True,
    )
    for split in ("train", "validation", "test"):
        first = (out / split / f"{split}.jsonl").read_bytes()
        assert first == (again / split / f"{split}.jsonl").read_bytes()


def test_train_writes_failure_file_on_error(tmp_path: Path) -> None:
    ml = tmp_path / "opt" / "ml"
    (ml / "input" / "config").mkdir(parents=True)
    (ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"epochs": "1"}))
    proc = subprocess.run(
        [sys.executable, str(TRAIN), "train"],
        env={"SAGEMAKER_BASE_DIR": str(ml), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    failure = (ml / "output" / "failure").read_text()
    assert failure.startswith("FileNotFoundError: no records in")  # the missing train channel


def test_train_reads_contract_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ml = tmp_path / "ml"
    (ml / "input" / "config").mkdir(parents=True)
    hps = {"epochs": "2", "learning_rate": "3e-05", "sagemaker_program": '"train.py"'}
    (ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    (ml / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "current_instance_type": "ml.g5.xlarge"})
    )
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(ml))
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)
    train = _load("ner_train", TRAIN)
    read = train.read_hyperparameters(["train", "--batch-size", "4"])
    assert (read["epochs"], read["learning_rate"], read["batch_size"]) == (2, 3e-05, 4)
    assert "sagemaker_program" not in read  # framework parameters are not the script's
    assert train.instance_type() == "ml.g5.xlarge"
    assert train.instance_type().startswith(train.GPU_FAMILIES)
    assert train.channel_dir("train") == ml / "input" / "data" / "train"


# -- the whole pipeline ------------------------------------------------------------------------


CARD = "Jane Doe Data Scientist Acme Corp jane@acme.com Tel: 555-123-4567 www.acme.com"
ENTITY_TYPES = {"PER", "ORG", "TITLE", "ADDR", "PHONE", "EMAIL", "URL"}


def _wait_in_service(name: str, timeout: float = 120.0) -> None:
    from stepline import serving

    deadline = time.monotonic() + timeout
    while (status := serving.describe_endpoint(name)["EndpointStatus"]) != "InService":
        assert status in ("Creating", "Updating") and time.monotonic() < deadline, status
        time.sleep(0.2)


@pytest.fixture
def served(home: Path):  # noqa: ANN201 - a generator fixture
    """Stops the endpoint and the background server the pipeline starts."""
    from stepline import serving

    yield
    for endpoint in serving.list_endpoints()["Endpoints"]:
        serving.delete_endpoint(endpoint["EndpointName"])
    serving.stop_server()


def test_pipeline_end_to_end_tiny(pipeline, home: Path, served: None) -> None:
    from stepline import jobs, serving
    from stepline.storage import get_store

    cfg = pipeline.Config(
        train_cards=40,
        test_cards=10,
        max_length=32,
        hyperparameters={"epochs": 1, "batch_size": 8, "max_steps": 3, "log_interval": 1},
        f1_threshold=0.0,
        endpoint_name="ner-bert-test",
    )
    lines: list[str] = []
    execution = pipeline.run(cfg, name="tiny-1", log=lines.append)
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    store = get_store()
    root = f"s3://stepline-examples/ner_bert/{cfg.corpus_tag}"

    # Raw corpus, uploaded once.
    assert any(line.startswith("corpus: uploaded") for line in lines)
    raw = store.get_bytes(f"s3://stepline-examples/ner_bert/raw/{cfg.corpus_tag}/train.jsonl")
    assert len(raw.decode().splitlines()) == 40

    # Splits from the Processing job.
    counts = {}
    for split in ("train", "validation", "test"):
        body = store.get_bytes(f"{root}/processed/{split}/{split}.jsonl").decode()
        records = [json.loads(x) for x in body.splitlines()]
        assert all(len(r["input_ids"]) <= 32 for r in records)
        counts[split] = len(records)
        assert store.exists(f"{root}/processed/{split}/labels.json")
    assert counts == {"train": 36, "validation": 4, "test": 10}

    # The model artifact from the training job.
    model_uri = output["training"]["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_uri == f"{root}/models/ner-train-tiny-1/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes(model_uri))) as tar:
        names = set(tar.getnames())
        config = json.load(tar.extractfile("config.json"))
    assert {"model.safetensors", "config.json", "tokenizer.json", "labels.json"} <= {
        n.removeprefix("./") for n in names
    }
    assert config["id2label"]["0"] == "O" and len(config["id2label"]) == 15

    # Metrics captured by the MetricDefinitions.
    training = jobs.describe_training_job("ner-train-tiny-1")
    assert training["TrainingJobStatus"] == "Completed"
    metrics = {m["MetricName"]: m["Value"] for m in training["FinalMetricDataList"]}
    assert {"train:loss", "validation:loss", "validation:f1", "train:tokens_per_second"} <= set(
        metrics
    )
    assert metrics["train:loss"] > 0 and metrics["train:tokens_per_second"] > 0
    assert 0.0 <= metrics["validation:f1"] <= 1.0

    # evaluation.json from the evaluation job, and the gate's view of it.
    report = json.loads(store.get_bytes(f"{root}/evaluation/evaluation.json"))
    f1 = report["ner_metrics"]["f1"]["value"]
    assert 0.0 <= f1 <= 1.0 and report["test_cards"] == 10
    assert output["evaluation"]["Metrics"]["f1"] == pytest.approx(f1, abs=1e-6)
    assert output["deploy"]["ModelDataUrl"] == model_uri
    assert output["deploy"]["Threshold"] == 0.0

    # The deploy branch: the endpoint serves the model from the training image.
    assert output["deploy"]["EndpointName"] == "ner-bert-test"
    _wait_in_service("ner-bert-test")
    answer = serving.invoke_endpoint("ner-bert-test", json.dumps({"instances": [CARD, ""]}))
    predictions = json.loads(answer["Body"])["predictions"]
    assert len(predictions) == 2 and predictions[1] == []
    words = CARD.split()
    for span in predictions[0]:
        assert span["type"] in ENTITY_TYPES
        assert span["text"] == " ".join(words[span["start"] : span["end"]])

    # Again with nothing changed: nothing is generated or uploaded, the preprocessing and
    # training jobs are cache hits, and the endpoint, already serving that very model, is
    # left alone (no rollout).
    lines.clear()
    again = pipeline.run(cfg, name="tiny-2", log=lines.append)
    assert again["status"] == "SUCCEEDED", again
    assert any("corpus:" in line and "unchanged" in line for line in lines)
    assert not any("uploaded" in line for line in lines)
    for kind, name in (("processing", "ner-prep-tiny-2"), ("training", "ner-train-tiny-2")):
        assert jobs.get_record(kind, name).state["cache"]["hit"] is True
    second = json.loads(again["output"])
    assert "already serves this model" in second["deploy"]["message"]
    assert second["deploy"]["ModelDataUrl"] == model_uri  # the first run's artifact, serving
    assert "endpoint_exists" not in second  # no createEndpoint/updateEndpoint this time
    assert second["evaluation"]["Metrics"] == output["evaluation"]["Metrics"]
    answer = serving.invoke_endpoint("ner-bert-test", json.dumps({"instances": [CARD]}))
    assert json.loads(answer["Body"])["predictions"][0]


class _FakeSageMaker:
    """A task port that records the hosting calls and says the endpoint already exists."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def invoke(self, request):  # noqa: ANN001, ANN201 - asl's TaskRequest / any result
        from stepline.asl.errors import StatesError

        api = request.resource.rsplit(":", 1)[1]
        self.calls.append(api)
        if api == "describeEndpoint":
            if self.calls.count(api) == 1:  # first: what does the endpoint serve? none yet
                raise StatesError("SageMaker.ValidationException", "not found", in_state=False)
            return {"EndpointStatus": "InService"}  # then: the rollout's wait loop
        if api == "createEndpoint":
            raise StatesError("SageMaker.AmazonSageMakerException", "exists", in_state=False)
        return {"ModelArn": "arn:aws:sagemaker:local:000000000000:model/m"}


def test_quality_gate_and_deploy_branch(pipeline) -> None:
    """F1 under the threshold ends in the Fail; over it, Model -> Config -> Endpoint runs, and
    an existing endpoint is updated instead of created."""
    from stepline import asl
    from stepline.sdk.states import Graph

    definition = Graph(pipeline.quality_gate(pipeline.Config(), "img")).to_dict()
    state = {
        "EndpointName": "ep",
        "training": {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"}},
        "evaluation": {"Metrics": {"f1": 0.9}},
    }
    port = _FakeSageMaker()
    failed = asl.execute(definition, {**state, "F1Threshold": 0.95}, tasks=port)
    assert failed.status == "FAILED" and failed.error == "ModelQualityBelowThreshold"
    assert port.calls == []  # nothing deployed

    passed = asl.execute(definition, {**state, "F1Threshold": 0.5}, tasks=port)
    assert passed.status == "SUCCEEDED", (passed.error, passed.cause)
    assert port.calls == [
        "describeEndpoint",
        "createModel",
        "createEndpointConfig",
        "createEndpoint",
        "updateEndpoint",
        "describeEndpoint",
    ]
    assert passed.output["deploy"]["F1"] == 0.9
    assert passed.output["deploy"]["EndpointName"] == "ep"
    retry = definition["States"]["Update endpoint"]["Retry"][0]
    assert "SageMaker.AmazonSageMakerException" in retry["ErrorEquals"]  # rollout in progress
