"""Words with character offsets, BIO tags from character spans and back, and span F1.

One module for preprocessing, training, evaluation and serving, so all four cut a card into
the same words and read entities back the same way.

Words are runs of letters/digits or single punctuation marks: "Tel.:+49" is ``Tel`` ``.``
``:`` ``+`` ``49`` and "GmbH," is ``GmbH`` ``,``, so punctuation stuck to a word never ends up
inside an entity by accident, and an entity's span is the characters from its first word's
start to its last word's end in the original text.  The layout counts too: a line break, or a
gap of three or more spaces (two columns read across), is a *break* word of its own, which
the model sees as ``[SEP]`` -- otherwise "Lang Capital S.A." at the end of one line and
"plac Styczna 8" at the start of the next would look like one run of words.  An entity never
starts or ends on a break, but may span one (an address over two lines).
"""

from __future__ import annotations

import re
from typing import Any

WORD = re.compile(r"\w+|[^\w\s]|\s*\n\s*|[ \t]{3,}")
#: What the model sees for a break word (a line break or a wide gap).
BREAK_TOKEN = "[SEP]"


#: Word shapes, the model's token-type input: the uncased WordPiece vocabulary cannot tell
#: "Mairie" (a name) from "mairie.au" (a domain), or "CONTACT" from "Contact", and on a card
#: capitals are much of what marks a name, a company or the start of a field.
SHAPE_OTHER, SHAPE_LOWER, SHAPE_TITLE, SHAPE_UPPER = 0, 1, 2, 3
N_SHAPES = 4


def shape(word: str) -> int:
    """The word's shape: lower-case, Capitalised, ALL CAPS, or other (digits, marks, breaks)."""
    if not word[:1].isalpha():
        return SHAPE_OTHER
    if word[0].islower():
        return SHAPE_LOWER
    letters = [c for c in word if c.isalpha()]
    return SHAPE_UPPER if len(letters) > 1 and all(c.isupper() for c in letters) else SHAPE_TITLE


def is_break(word: str) -> bool:
    """Whether ``word`` is a break (whitespace: a line break or a wide gap)."""
    return word.isspace()


def words(text: str) -> list[tuple[str, int, int]]:
    """``(word, start, end)`` for each word of ``text``; offsets index ``text``."""
    return [(m.group(0), m.start(), m.end()) for m in WORD.finditer(text)]


def bio_tags(text: str, entities: list[dict]) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The words of ``text`` and their BIO tags from character-offset ``entities``.

    Raises ``ValueError`` when an entity's edge falls inside a word (the gold span could not
    be predicted) or entities overlap.
    """
    ws = words(text)
    tags = ["O"] * len(ws)
    starts = {start: i for i, (_, start, _) in enumerate(ws)}
    ends = {end: i for i, (_, _, end) in enumerate(ws)}
    for e in sorted(entities, key=lambda e: e["start"]):
        first, last = starts.get(e["start"]), ends.get(e["end"])
        if first is None or last is None or last < first:
            raise ValueError(
                f"entity {e['type']} [{e['start']}:{e['end']}] {text[e['start'] : e['end']]!r} "
                "does not start and end on word boundaries"
            )
        if any(t != "O" for t in tags[first : last + 1]):
            raise ValueError(f"entity {e['type']} [{e['start']}:{e['end']}] overlaps another")
        tags[first] = "B-" + e["type"]
        for i in range(first + 1, last + 1):
            tags[i] = "I-" + e["type"]
    return ws, tags


def spans(text: str, ws: list[tuple[str, int, int]], tags: list[str]) -> list[dict[str, Any]]:
    """BIO tags of ``ws`` -> ``{"type", "start", "end", "text"}`` character spans of ``text``.

    Read the way seqeval's default mode reads them: an ``I-`` after ``O`` or after another
    type starts a new entity.  A break word inside an entity continues it (an address over two
    lines); one at either edge is not part of it.
    """
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for (word, start, end), tag in zip(ws, tags, strict=True):
        kind = None if tag == "O" else tag[2:]
        if current is not None and kind == current["type"] and tag.startswith("I-"):
            if not is_break(word):
                current["end"] = end
            continue
        if is_break(word):
            kind = None
        if current is not None:
            out.append(current)
        current = {"type": kind, "start": start, "end": end} if kind else None
    if current is not None:
        out.append(current)
    for span in out:
        span["text"] = text[span["start"] : span["end"]]
    return out


def span_f1(gold: list[list[dict]], pred: list[list[dict]]) -> dict[str, Any]:
    """Entity-level precision/recall/F1 over exact ``(type, start, end)`` matches, micro-averaged
    over all cards, and the same per type (with ``support``: the number of gold entities).

    The same figures seqeval's ``classification_report`` gives on BIO tags of the same words.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold cards but {len(pred)} predicted")

    def key(card: int, e: dict) -> tuple:
        return (card, e["type"], e["start"], e["end"])

    gold_set = {key(i, e) for i, card in enumerate(gold) for e in card}
    pred_set = {key(i, e) for i, card in enumerate(pred) for e in card}

    def score(g: set, p: set) -> dict[str, float]:
        hit = len(g & p)
        precision = hit / len(p) if p else 0.0
        recall = hit / len(g) if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if hit else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": len(g)}

    types = sorted({k[1] for k in gold_set | pred_set})
    return {
        **score(gold_set, pred_set),
        "per_type": {
            t: score({k for k in gold_set if k[1] == t}, {k for k in pred_set if k[1] == t})
            for t in types
        },
    }


def encode(tokenizer: Any, ws: list[tuple[str, int, int]]) -> tuple[list[int], list[int]]:
    """WordPiece ids of the words (no special tokens) and, per id, the index of its word."""
    if not ws:
        return [], []
    pieces = [BREAK_TOKEN if is_break(w) else w for w, _, _ in ws]
    enc = tokenizer.encode(pieces, is_pretokenized=True, add_special_tokens=False)
    return list(enc.ids), list(enc.word_ids)


def shapes(ws: list[tuple[str, int, int]], word_ids: list[int | None]) -> list[int]:
    """The shape of each sub-token's word (``SHAPE_OTHER`` for special tokens)."""
    return [SHAPE_OTHER if w is None else shape(ws[w][0]) for w in word_ids]
