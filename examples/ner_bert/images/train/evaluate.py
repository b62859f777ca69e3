"""SageMaker Processing job: test-set entity F1 of the fine-tuned model -> ``evaluation.json``.

Runs from the training image (same torch/transformers venv) with
``ContainerEntrypoint=["python", "/opt/program/evaluate.py"]``.  Inputs, as staged by the
Processing job: the training job's ``model.tar.gz`` under ``/opt/ml/processing/model`` and the
preprocessed test split under ``/opt/ml/processing/test``.  Writes
``/opt/ml/processing/evaluation/evaluation.json`` in the SageMaker Pipelines property-file
style (``{"ner_metrics": {"f1": {"value": ...}, ...}}``) and a one-line summary to
``/opt/ml/output/message`` so the workflow can branch on the F1 straight from the job's
``ExitMessage`` without another step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train as trainlib  # noqa: E402 - the sibling script in the same image


def unpack_model(model_dir: Path) -> Path:
    """The folder holding ``config.json``: ``model_dir`` itself or its extracted tarball."""
    if (model_dir / "config.json").is_file():
        return model_dir
    tarballs = sorted(model_dir.glob("*.tar.gz"))
    if not tarballs:
        raise FileNotFoundError(f"no model.tar.gz or config.json in {model_dir}")
    target = Path(os.environ.get("TMPDIR", "/tmp")) / "ner-model"
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarballs[0]) as tar:
        tar.extractall(target, filter="data")
    return target


def entity_report(gold: list[list[str]], pred: list[list[str]]) -> dict[str, dict[str, float]]:
    """Per-entity precision/recall/F1/support from seqeval."""
    from seqeval.metrics import classification_report

    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    return {
        name: {k.replace("-", "_"): float(v) for k, v in values.items()}
        for name, values in sorted(report.items())
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", default="/opt/ml/processing/model")
    p.add_argument("--test-dir", default="/opt/ml/processing/test")
    p.add_argument("--output-dir", default="/opt/ml/processing/evaluation")
    p.add_argument("--message-file", default="/opt/ml/output/message")
    p.add_argument("--batch-size", type=int, default=64)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForTokenClassification

    started = time.perf_counter()
    model_path = unpack_model(Path(args.model_dir))
    records, labels = trainlib.read_split(Path(args.test_dir))
    model = AutoModelForTokenClassification.from_pretrained(str(model_path))
    saved_labels = json.loads((model_path / "labels.json").read_text())
    if saved_labels != labels:
        raise ValueError(f"label mismatch: model {saved_labels} vs test data {labels}")

    gold: list[list[str]] = []
    pred: list[list[str]] = []
    model.eval()
    with torch.no_grad():
        for batch in trainlib.batches(records, args.batch_size, None):
            inputs = trainlib.collate(batch, torch, torch.device("cpu"))
            best = model(**inputs).logits.argmax(-1).tolist()
            for row, p_row in zip(inputs["labels"].tolist(), best, strict=True):
                keep = [(g, p) for g, p in zip(row, p_row, strict=True) if g != trainlib.IGNORE]
                gold.append([labels[g] for g, _ in keep])
                pred.append([labels[p] for _, p in keep])

    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    f1 = float(f1_score(gold, pred))
    evaluation = {
        "ner_metrics": {
            "f1": {"value": f1},
            "precision": {"value": float(precision_score(gold, pred))},
            "recall": {"value": float(recall_score(gold, pred))},
            "token_accuracy": {"value": float(accuracy_score(gold, pred))},
        },
        "per_entity": entity_report(gold, pred),
        "test_cards": len(records),
    }
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(evaluation, sort_keys=True, indent=2) + "\n")
    trainlib.metric(test_f1=f1, test_seconds=time.perf_counter() - started)
    message = Path(args.message_file)
    message.parent.mkdir(parents=True, exist_ok=True)
    message.write_text(json.dumps({"f1": round(f1, 6), "test_cards": len(records)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
