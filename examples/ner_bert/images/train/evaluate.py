"""SageMaker Processing job: entity F1 of the fine-tuned model on three test sets.

Runs from the training image with ``ContainerEntrypoint=["python", "/opt/program/evaluate.py"]``.
Inputs, as staged by the Processing job: the training job's ``model.tar.gz`` under
``/opt/ml/processing/model`` and the raw test sets under ``/opt/ml/processing/test``:

* ``test.jsonl`` -- in-distribution: the training generator's profile, other seeds;
* ``shifted.jsonl`` -- locales, layouts, field labels and noise levels training never saw;
* ``handwritten.jsonl`` -- cards written by hand (``handwritten_cards.txt`` in the example).

Each card is predicted the way the endpoint predicts it (``serve.NerModel`` on the raw text),
and scored on character spans: entity-level precision/recall/F1, micro-averaged over exact
``(type, start, end)`` matches (seqeval's definition), and per type.  Writes
``/opt/ml/processing/evaluation/evaluation.json`` (the report, with the mistakes on the first
cards of each set) and a one-line summary to ``/opt/ml/output/message`` -- the job's
``ExitMessage``, which the workflow's quality gate reads (``shifted`` is the gated figure).
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

import cardtext  # noqa: E402 - sibling modules in the same image
import serve  # noqa: E402
import train as trainlib  # noqa: E402

#: The test sets: report name -> file name.
TEST_SETS = {
    "in_distribution": "test.jsonl",
    "shifted": "shifted.jsonl",
    "handwritten": "handwritten.jsonl",
}
MISTAKES_SHOWN = 25


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


def score(model: serve.NerModel, records: list[dict]) -> dict:
    """Span F1 (micro and per type) of the model on ``records`` and its first mistakes."""
    predicted = model.predict([r["text"] for r in records])
    gold = [r["entities"] for r in records]
    report = cardtext.span_f1(gold, predicted)
    mistakes = []
    for record, pred in zip(records, predicted, strict=True):
        want = {(e["type"], e["start"], e["end"]) for e in record["entities"]}
        got = {(e["type"], e["start"], e["end"]) for e in pred}
        if want != got and len(mistakes) < MISTAKES_SHOWN:
            text = record["text"]
            mistakes.append(
                {
                    "id": record["id"],
                    "missed": [
                        [t, text[s:e]] for t, s, e in sorted(want - got, key=lambda x: x[1])
                    ],
                    "spurious": [
                        [t, text[s:e]] for t, s, e in sorted(got - want, key=lambda x: x[1])
                    ],
                }
            )
    return {**report, "cards": len(records), "mistakes": mistakes}


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
    started = time.perf_counter()
    model_dir = unpack_model(Path(args.model_dir))
    model = serve.NerModel(model_dir, batch_size=args.batch_size)
    sets = {}
    for name, filename in TEST_SETS.items():
        path = Path(args.test_dir) / filename
        if not path.is_file():
            raise FileNotFoundError(f"test set {name}: no {filename} in {args.test_dir}")
        with path.open(encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        sets[name] = score(model, records)
        per_type = {t: round(v["f1"], 4) for t, v in sets[name]["per_type"].items()}
        print(
            f"{name}: cards={len(records)} f1={sets[name]['f1']:.4f} per_type={per_type}",
            flush=True,
        )
        trainlib.metric(**{f"{name}_f1": sets[name]["f1"]})
    evaluation = {
        "metric": "entity F1 over exact character spans, micro-averaged (seqeval's definition)",
        "gate": "shifted",
        "sets": sets,
    }
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".evaluation.json.tmp"
    tmp.write_text(json.dumps(evaluation, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(out / "evaluation.json")
    trainlib.metric(test_seconds=time.perf_counter() - started)
    message = Path(args.message_file)
    message.parent.mkdir(parents=True, exist_ok=True)
    summary = {name: round(s["f1"], 6) for name, s in sets.items()}
    message.write_text(json.dumps({**summary, "cards": {n: s["cards"] for n, s in sets.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
