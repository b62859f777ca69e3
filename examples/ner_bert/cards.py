"""Synthetic business cards with word-level BIO tags, generated with Faker from a fixed seed.

Why synthetic: the example must run offline and reproduce bit for bit, so the corpus is made
rather than downloaded.  The same ``(seed, n_train, n_test)`` always gives the same bytes, so
the raw objects hash the same on every run and the pipeline's caching can skip work.

A card is a handful of lines (name, title, company, address, phone, email, URL) in a varied
order with optional field labels ("Tel:", "Email:") that are tagged ``O``.  Each record is
one JSON line: ``{"id", "tokens", "tags"}`` with whitespace-split words and BIO tags.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator

from faker import Faker

#: Entity types on a card, in the order of the label list (stable: the model's label ids).
ENTITY_TYPES = ("PER", "ORG", "TITLE", "ADDR", "PHONE", "EMAIL", "URL")
LABELS = ["O"] + [f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")]

_PHONE_LABELS = ("Tel:", "Phone:", "T:", "Mobile:", "Cell:", "Office:", "Direct:")
_EMAIL_LABELS = ("Email:", "E-mail:", "E:", "Mail:")
_URL_LABELS = ("Web:", "Website:", "W:", "Online:")


def _span(text: str, entity: str | None) -> list[tuple[str, str]]:
    """Words of ``text`` tagged as one ``entity`` span (B- then I-), or all ``O``."""
    words = text.split()
    if entity is None:
        return [(w, "O") for w in words]
    return [(w, ("B-" if i == 0 else "I-") + entity) for i, w in enumerate(words)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower()) or "company"


def make_card(fake: Faker, rng: random.Random) -> list[tuple[str, str]]:
    """One card as ``(word, tag)`` pairs."""
    first, last = fake.first_name(), fake.last_name()
    name = f"{first} {last}"
    if rng.random() < 0.15:
        name = f"{rng.choice(['Dr.', 'Mr.', 'Ms.', 'Mrs.', 'Prof.'])} {name}"
    if rng.random() < 0.1:
        name = f"{name} {rng.choice(['Jr.', 'PhD', 'MBA', 'III'])}"
    company = fake.company()
    domain = f"{_slug(company.split()[0])}.{rng.choice(['com', 'net', 'org', 'io', 'co'])}"
    email = (
        f"{rng.choice([first[0], first, first + '.'])}{last}@{domain}".lower()
        if rng.random() < 0.7
        else fake.email()
    )
    url = rng.choice([f"www.{domain}", f"https://{domain}", f"https://www.{domain}", fake.url()])

    head = [_span(name, "PER"), _span(fake.job(), "TITLE"), _span(company, "ORG")]
    if rng.random() < 0.3:  # title under the company sometimes
        head[1], head[2] = head[2], head[1]

    def labelled(value: str, entity: str, labels: tuple[str, ...]) -> list[tuple[str, str]]:
        prefix = _span(rng.choice(labels), None) if rng.random() < 0.5 else []
        return prefix + _span(value, entity)

    contacts = [
        _span(fake.address().replace("\n", ", "), "ADDR"),
        labelled(fake.phone_number(), "PHONE", _PHONE_LABELS),
        labelled(email, "EMAIL", _EMAIL_LABELS),
        labelled(url, "URL", _URL_LABELS),
    ]
    if rng.random() < 0.3:
        contacts.append(labelled(fake.phone_number(), "PHONE", _PHONE_LABELS))
    contacts = [c for c in contacts if rng.random() < 0.92 or c[-1][1].endswith("ADDR")]
    rng.shuffle(contacts)
    lines = head + contacts
    if rng.random() < 0.1:
        rng.shuffle(lines)
    return [pair for line in lines for pair in line]


def generate(seed: int, count: int, start_id: int = 0) -> Iterator[dict]:
    """``count`` card records from ``seed``; the same arguments always give the same cards."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    for i in range(count):
        pairs = make_card(fake, rng)
        yield {
            "id": f"card-{start_id + i:06d}",
            "tokens": [w for w, _ in pairs],
            "tags": [t for _, t in pairs],
        }


def corpus(seed: int, n_train: int, n_test: int) -> dict[str, bytes]:
    """The raw corpus as JSON-lines files: ``{"train.jsonl": ..., "test.jsonl": ...}``.

    Train and test come from different seeds derived from ``seed`` so no card is in both, and
    growing ``n_train`` does not change the test set.
    """

    def dump(records: Iterator[dict]) -> bytes:
        return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()

    return {
        "train.jsonl": dump(generate(seed * 2 + 1, n_train)),
        "test.jsonl": dump(generate(seed * 2 + 2, n_test, start_id=1_000_000)),
    }
