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
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from support.ner_example import TINY_CONFIG

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ner_bert"
PREPROCESS = EXAMPLE / "images" / "train" / "preprocess.py"
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


def _cards():  # noqa: ANN202 - the example's corpus module
    sys.path.insert(0, str(EXAMPLE))
    try:
        import cards
    finally:
        sys.path.remove(str(EXAMPLE))
    return cards


def _raw(tmp_path: Path, n_train: int, n_test: int) -> Path:
    cards = _cards()
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, body in cards.corpus(7, n_train, n_test).items():
        (raw / name).write_bytes(body)
    return raw


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the corpus, the words, the metric and the preprocessing script ----------------------------


@pytest.fixture(scope="module")
def cardtext():  # noqa: ANN201 - the image's module
    return _load("ner_cardtext", EXAMPLE / "images" / "train" / "cardtext.py")


def _check_spans(record: dict, cardtext) -> None:  # noqa: ANN001
    """Gold spans are non-empty, trimmed, ordered, non-overlapping, on word boundaries."""
    text, previous_end = record["text"], 0
    for e in record["entities"]:
        assert 0 <= previous_end <= e["start"] < e["end"] <= len(text), record
        covered = text[e["start"] : e["end"]]
        assert covered == covered.strip() and covered, record
        previous_end = e["end"]
    words, tags = cardtext.bio_tags(text, record["entities"])  # raises when off a boundary
    assert cardtext.spans(text, words, tags) == [
        {**e, "text": text[e["start"] : e["end"]]} for e in record["entities"]
    ]


def test_corpus_is_reproducible_and_well_spanned(pipeline, cardtext) -> None:
    import cards

    a = cards.corpus(3, 200, 40)
    assert a == cards.corpus(3, 200, 40)  # same seed, same bytes: cache keys stay stable
    assert a["test.jsonl"] == cards.corpus(3, 60, 40)["test.jsonl"]  # test sets independent
    assert a["shifted.jsonl"] == cards.corpus(3, 60, 40)["shifted.jsonl"]
    sets = {name: [json.loads(x) for x in body.decode().splitlines()] for name, body in a.items()}
    assert [len(sets[n]) for n in ("train.jsonl", "test.jsonl", "shifted.jsonl")] == [200, 40, 40]
    ids = [r["id"] for records in sets.values() for r in records]
    assert len(ids) == len(set(ids))
    for name, records in sets.items():
        types = set()
        for r in records:
            _check_spans(r, cardtext)
            types.update(e["type"] for e in r["entities"])
        assert types == set(cards.ENTITY_TYPES), name
    train = sets["train.jsonl"]
    # What the generator promises: several locales and layouts, OCR noise in the profile's
    # range, labels outside the spans, line breaks; the shifted set shares none of them.
    for profile, records in ((cards.TRAIN, train), (cards.SHIFTED, sets["shifted.jsonl"])):
        assert {r["locale"] for r in records} == set(profile.locales)
        assert {r["layout"] for r in records} == set(profile.layouts)
        assert all(profile.noise[0] <= r["noise"] <= profile.noise[1] for r in records)
    assert not set(cards.TRAIN.locales) & set(cards.SHIFTED.locales)
    assert not set(cards.TRAIN.layouts) & set(cards.SHIFTED.layouts)
    assert cards.TRAIN.noise[1] < cards.SHIFTED.noise[0]
    assert any("\n" in r["text"] for r in train)
    text = " ".join(r["text"] for r in train)
    for marker in ("GmbH", "K.K.", "Ltd", "S.A.", "Mobile", "Fax", "E-mail", "Dr.", "-"):
        assert marker in text, marker
    spans = [r["text"][e["start"] : e["end"]] for r in train for e in r["entities"]]
    labels = tuple(x for options in cards.TRAIN.labels.values() for x in options if x[-1] in ".:")
    assert not any(s.startswith(labels) for s in spans)  # labels stay outside the spans


def test_corpus_is_the_same_in_every_process() -> None:
    """The corpus bytes do not depend on the process's hash seed (Faker's it_IT cities come
    from a set): the pipeline's caching and the published F1 figures rely on that."""
    script = (
        "import hashlib, sys; sys.path.insert(0, sys.argv[1]); import cards; "
        "print(hashlib.sha256(b''.join(v for _, v in sorted(cards.corpus(5, 600, 60).items())))"
        ".hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script, str(EXAMPLE)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_word_shapes(cardtext) -> None:
    """The model's token-type input: what the uncased vocabulary loses."""
    shapes = [cardtext.shape(w) for w in ("mairie", "Mairie", "MAIRIE", "GmbH", "42", ".", "\n")]
    lower, title, upper, other = (
        cardtext.SHAPE_LOWER, cardtext.SHAPE_TITLE, cardtext.SHAPE_UPPER, cardtext.SHAPE_OTHER
    )  # fmt: skip
    assert shapes == [lower, title, upper, title, other, other, other]
    assert cardtext.shape("A") == title  # one capital letter is not ALL CAPS
    assert max(shapes) < cardtext.N_SHAPES


def test_ocr_noise_drops_merges_and_confuses_characters() -> None:
    import random

    import cards

    clean = "Bernhard Oliver Schmidt-Lennon 0170 555 0123 Hamburg"
    noisy = [cards._noisy(clean, 0.3, random.Random(i)) for i in range(30)]
    assert any(len(n) < len(clean) and n.count(" ") == clean.count(" ") for n in noisy)  # drop
    assert any(n.count(" ") < clean.count(" ") for n in noisy)  # merged words
    assert any(set(n) - set(clean) for n in noisy)  # confused ("B" read as "8", ...)
    assert all(n[0] in "B8" and n[-1] in "gq" for n in noisy)  # edges: confused, never lost
    assert cards._noisy(clean, 0.0, random.Random(1)) == clean


def test_handwritten_cards(pipeline, cardtext) -> None:
    import cards

    records = cards.handwritten()
    assert len(records) >= 60
    counts = {t: 0 for t in cards.ENTITY_TYPES}
    for r in records:
        _check_spans(r, cardtext)
        for e in r["entities"]:
            counts[e["type"]] += 1
            covered = r["text"][e["start"] : e["end"]]
            if e["type"] in ("EMAIL", "URL"):
                assert ".example." in covered or "@example." in covered, covered
    assert min(counts.values()) >= 20, counts
    text, entities = cards.parse_marked("Tel. [PHONE|555-0100], [PER|Jo Roe]")
    assert text == "Tel. 555-0100, Jo Roe"
    assert entities == [
        {"type": "PHONE", "start": 5, "end": 13},
        {"type": "PER", "start": 15, "end": 21},
    ]
    with pytest.raises(ValueError, match="malformed"):
        cards.parse_marked("[NAME|Jo Roe]")


def test_words_split_punctuation_and_keep_offsets(cardtext) -> None:
    text = "Contact Dr. Maria Gonzalez-Ruiz, Tel.:+49 30 1234567,\nmaria@nordwind.example.com"
    words = cardtext.words(text)
    assert [w for w, _, _ in words][:12] == [
        "Contact", "Dr", ".", "Maria", "Gonzalez", "-", "Ruiz", ",", "Tel", ".", ":", "+",
    ]  # fmt: skip
    assert all(text[s:e] == w for w, s, e in words)
    tags = ["O"] * len(words)
    tags[1:7] = ["B-PER"] + ["I-PER"] * 5
    tags[11:15] = ["B-PHONE"] + ["I-PHONE"] * 3
    spans = cardtext.spans(text, words, tags)
    assert spans == [
        {"type": "PER", "start": 8, "end": 31, "text": "Dr. Maria Gonzalez-Ruiz"},
        {"type": "PHONE", "start": 38, "end": 52, "text": "+49 30 1234567"},
    ]
    # Line breaks and wide gaps are words (the model's [SEP]); never an entity's edge.
    text = "Jo Roe   Tel. 555-0100\n Kiel\nDE"
    words = cardtext.words(text)
    assert [w for w, _, _ in words] == [
        "Jo", "Roe", "   ", "Tel", ".", "555", "-", "0100", "\n ", "Kiel", "\n", "DE",
    ]  # fmt: skip
    tags = ["B-PER", "I-PER", "I-PER", "O", "O", "B-PHONE", "I-PHONE", "I-PHONE", "I-PHONE"]
    tags += ["B-ADDR", "I-ADDR", "I-ADDR"]
    assert [s["text"] for s in cardtext.spans(text, words, tags)] == [
        "Jo Roe", "555-0100", "Kiel\nDE",
    ]  # fmt: skip
    # seqeval's reading: an I- after O or another type starts a new entity.
    words = cardtext.words("a b c d")
    tags = ["I-PER", "I-ORG", "O", "I-ORG"]
    assert [s["text"] for s in cardtext.spans("a b c d", words, tags)] == ["a", "b", "d"]
    with pytest.raises(ValueError, match="word boundaries"):
        cardtext.bio_tags("GmbH,", [{"type": "ORG", "start": 0, "end": 3}])


def test_span_f1_is_seqevals_exact_span_f1(cardtext) -> None:
    """Exact spans only (a boundary off by one word is a miss and a false positive), micro
    over cards, per type -- the same numbers seqeval gives on the BIO tags."""
    import random

    from seqeval.metrics import classification_report

    rng = random.Random(5)
    types = ["PER", "ORG", "PHONE"]
    gold_tags, pred_tags, gold_spans, pred_spans = [], [], [], []
    for _ in range(200):
        n = rng.randint(1, 12)
        text = " ".join("w" for _ in range(n))
        words = cardtext.words(text)
        g = [rng.choice(["O", "O", *(f"{p}-{t}" for t in types for p in "BI")]) for _ in range(n)]
        p = [t if rng.random() < 0.8 else rng.choice(["O", "B-PER", "I-PER", "I-ORG"]) for t in g]
        gold_tags.append(g)
        pred_tags.append(p)
        gold_spans.append(cardtext.spans(text, words, g))
        pred_spans.append(cardtext.spans(text, words, p))
    ours = cardtext.span_f1(gold_spans, pred_spans)
    theirs = classification_report(gold_tags, pred_tags, output_dict=True, zero_division=0)
    assert ours["f1"] == pytest.approx(theirs["micro avg"]["f1-score"])
    assert ours["precision"] == pytest.approx(theirs["micro avg"]["precision"])
    for t in types:
        assert ours["per_type"][t]["f1"] == pytest.approx(theirs[t]["f1-score"])
        assert ours["per_type"][t]["support"] == theirs[t]["support"]
    gold = [[{"type": "PER", "start": 0, "end": 8}]]
    assert cardtext.span_f1(gold, [[{"type": "PER", "start": 0, "end": 9}]])["f1"] == 0.0
    assert cardtext.span_f1(gold, [[{"type": "ORG", "start": 0, "end": 8}]])["f1"] == 0.0
    assert cardtext.span_f1(gold, gold)["f1"] == 1.0


def test_preprocess_aligns_labels_to_first_subtoken_and_truncates(tmp_path: Path) -> None:
    raw = _raw(tmp_path, 20, 4)
    out = tmp_path / "out"
    cmd = [sys.executable, str(PREPROCESS), "--input-dir", str(raw), "--output-dir", str(out)]
    subprocess.run([*cmd, "--max-length", "40"], check=True, capture_output=True)
    train, val = (_jsonl(out / s / f"{s}.jsonl") for s in ("train", "validation"))
    assert (len(train), len(val)) == (18, 2)
    assert not (out / "test").exists()  # the test sets stay raw text for the evaluation
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
        import cardtext
    finally:
        sys.path.remove(str(PREPROCESS.parent))
    tok = prep.load_tokenizer()
    raw_by_id = {r["id"]: r for r in _jsonl(raw / "train.jsonl")}
    for record in train:
        ids, labs = record["input_ids"], record["labels"]
        assert len(ids) == len(labs) == len(record["token_type_ids"]) <= 40
        assert ids[0] == tok.token_to_id("[CLS]") and ids[-1] == tok.token_to_id("[SEP]")
        assert labs[0] == labs[-1] == -100
        # The labelled positions are the words' first sub-tokens, in order; punctuation is
        # a word of its own.
        card = raw_by_id[record["id"]]
        words, tags = cardtext.bio_tags(card["text"], card["entities"])
        kept = [labels[x] for x in labs if x != -100]
        assert kept == tags[: len(kept)]
        pieces = ["[SEP]" if w.isspace() else w for w, _, _ in words]  # line breaks, gaps
        enc = tok.encode(pieces, is_pretokenized=True, add_special_tokens=False)
        assert ids[1:-1] == enc.ids[: len(ids) - 2]
        # Each sub-token carries its word's shape; [CLS] and [SEP] none.
        shapes = [cardtext.shape(words[w][0]) for w in enc.word_ids[: len(ids) - 2]]
        assert record["token_type_ids"] == [0, *shapes, 0]
    # Same input, same bytes (the pipeline's cache depends on it).
    again = tmp_path / "again"
    subprocess.run(
        [*cmd[:-2], "--output-dir", str(again), "--max-length", "40"],
        check=True,
        capture_output=True,
    )
    for split in ("train", "validation"):
        first = (out / split / f"{split}.jsonl").read_bytes()
        assert first == (again / split / f"{split}.jsonl").read_bytes()


def test_request_bodies(tmp_path: Path) -> None:
    """text/plain and JSON bodies give the list of cards; anything else a clear error."""
    sys.path.insert(0, str(TRAIN.parent))
    try:
        serve = _load("ner_serve", TRAIN.parent / "serve.py")
    finally:
        sys.path.remove(str(TRAIN.parent))
    card = "Jo Roe\nTel. 555-0100"
    assert serve.texts_of(card.encode(), "text/plain; charset=utf-8") == [card]
    assert serve.texts_of(json.dumps({"text": card}).encode(), "application/json") == [card]
    body = json.dumps({"instances": [card, ""]}).encode()
    assert serve.texts_of(body, "application/json") == [card, ""]
    for bad in (b"[1, 2]", b'{"instances": [1]}', b"{", b'{"txt": "x"}', b"\xff"):
        with pytest.raises(ValueError):
            serve.texts_of(bad, "application/json")


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


CARD = (
    "Dr. Maria Gonzalez-Ruiz\nHead of Procurement\nNordwind Logistics GmbH\n"
    "Tel.: +49 40 555 0147, E-mail: maria.gonzalez@nordwind.example.com"
)
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

    cfg = pipeline.Config(**TINY_CONFIG, endpoint_name="ner-bert-test")
    lines: list[str] = []
    execution = pipeline.run(cfg, name="tiny-1", log=lines.append)
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    store = get_store()
    root = f"s3://stepline-examples/ner_bert/{cfg.corpus_tag}"

    # Raw corpus, uploaded once: training cards and the three test sets apart.
    assert any(line.startswith("corpus: uploaded") for line in lines)
    raw = f"s3://stepline-examples/ner_bert/raw/{cfg.corpus_tag}"
    assert len(store.get_bytes(f"{raw}/train/train.jsonl").decode().splitlines()) == 40
    for name in ("test", "shifted", "handwritten"):
        assert store.exists(f"{raw}/test/{name}.jsonl")

    # Splits from the Processing job.
    counts = {}
    for split in ("train", "validation"):
        body = store.get_bytes(f"{root}/processed/{split}/{split}.jsonl").decode()
        records = [json.loads(x) for x in body.splitlines()]
        assert all(len(r["input_ids"]) <= 32 for r in records)
        counts[split] = len(records)
        assert store.exists(f"{root}/processed/{split}/labels.json")
    assert counts == {"train": 36, "validation": 4}

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

    # evaluation.json from the evaluation job: three test sets, each with per-type figures,
    # and the gate's view of it (the shifted set's F1).
    report = json.loads(store.get_bytes(f"{root}/evaluation/evaluation.json"))
    assert report["gate"] == "shifted"
    sets = report["sets"]
    assert {n: s["cards"] for n, s in sets.items()} == {
        "in_distribution": 10,
        "shifted": 10,
        "handwritten": len(_cards().handwritten()),
    }
    metrics = output["evaluation"]["Metrics"]
    for name, figures in sets.items():
        assert 0.0 <= figures["f1"] <= 1.0
        assert metrics[name] == pytest.approx(figures["f1"], abs=1e-6)
        assert sum(t["support"] for t in figures["per_type"].values()) == figures["support"]
    assert set(sets["handwritten"]["per_type"]) >= set(ENTITY_TYPES)
    assert output["deploy"]["F1"] == metrics["shifted"]
    assert output["deploy"]["ModelDataUrl"] == model_uri
    assert output["deploy"]["Threshold"] == 0.0

    # The deploy branch: the endpoint serves the model from the training image, and answers
    # with character spans of each text, for JSON and text/plain bodies alike.
    assert output["deploy"]["EndpointName"] == "ner-bert-test"
    _wait_in_service("ner-bert-test")
    answer = serving.invoke_endpoint("ner-bert-test", json.dumps({"instances": [CARD, ""]}))
    predictions = json.loads(answer["Body"])["predictions"]
    assert len(predictions) == 2 and predictions[1] == []
    plain = serving.invoke_endpoint("ner-bert-test", CARD, content_type="text/plain")
    assert json.loads(plain["Body"])["predictions"] == [predictions[0]]
    for span in predictions[0]:
        assert set(span) == {"type", "start", "end", "text"}
        assert span["type"] in ENTITY_TYPES
        assert 0 <= span["start"] < span["end"] <= len(CARD)
        assert span["text"] == CARD[span["start"] : span["end"]]
        assert span["text"] == span["text"].strip()

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
        "evaluation": {"Metrics": {"shifted": 0.9, "in_distribution": 0.99}},
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
