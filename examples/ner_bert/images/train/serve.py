"""SageMaker hosting contract for the NER model: ``serve`` -> HTTP on ``SAGEMAKER_BIND_TO_PORT``.

The endpoint's container is the training image started with ``serve`` (``train.py`` hands it
here).  The model artifact is extracted at ``/opt/ml/model`` (``SM_MODEL_DIR`` overrides it);
the server loads it once, then answers ``GET /ping`` with 200 and ``POST /invocations`` with
the entities found in each card.

Request: ``{"text": "..."}``, ``{"instances": ["...", ...]}`` (JSON) or the card as
``text/plain``.  Response (JSON), the contract: ``{"predictions": [[{"type", "start", "end",
"text"}, ...], ...]}``, one list per input text, where ``start``/``end`` are character offsets
into that text (Python string indices, end exclusive) and ``text`` is ``text[start:end]``.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cardtext  # noqa: E402 - the sibling module in the same image

#: Sub-tokens per model window (the model's position limit is 512; cards are ~100).
MAX_TOKENS = 256


class NerModel:
    """The fine-tuned model and its tokenizer, predicting character spans of the input text."""

    def __init__(self, model_dir: Path, batch_size: int = 32) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModelForTokenClassification

        self.torch = torch
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        self.labels = json.loads((model_dir / "labels.json").read_text())
        self.model = AutoModelForTokenClassification.from_pretrained(str(model_dir)).eval()
        # Trained with word shapes as token types (train.with_word_shapes), or without.
        self.shaped = self.model.config.type_vocab_size >= cardtext.N_SHAPES

    def _windows(self, text: str) -> tuple[list, list[tuple[list[int], list, list[int]]]]:
        """The words of ``text`` and model windows of at most ``MAX_TOKENS`` sub-tokens, each
        ``(ids, word index per id, word shape per id)``; a long text is cut between words."""
        ws = cardtext.words(text)
        ids, word_ids = cardtext.encode(self.tokenizer, ws)
        kinds = cardtext.shapes(ws, word_ids)
        windows, start = [], 0
        while start < len(ids):
            stop = min(start + MAX_TOKENS - 2, len(ids))
            while stop < len(ids) and stop > start + 1 and word_ids[stop] == word_ids[stop - 1]:
                stop -= 1  # do not cut a word in two
            windows.append(
                (
                    [self.cls_id, *ids[start:stop], self.sep_id],
                    [None, *word_ids[start:stop], None],
                    [cardtext.SHAPE_OTHER, *kinds[start:stop], cardtext.SHAPE_OTHER],
                )
            )
            start = stop
        return ws, windows

    def predict(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        """Entity spans (``type``, ``start``, ``end`` exclusive, ``text``) for each text."""
        cut = [self._windows(t) for t in texts]
        flat = [(n, w) for n, (_, windows) in enumerate(cut) for w in windows]
        tags = [["O"] * len(ws) for ws, _ in cut]
        torch = self.torch
        for b in range(0, len(flat), self.batch_size):
            batch = flat[b : b + self.batch_size]
            width = max(len(ids) for _, (ids, _, _) in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            types = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, (_, (row, _, kinds)) in enumerate(batch):
                ids[i, : len(row)] = torch.tensor(row)
                if self.shaped:
                    types[i, : len(row)] = torch.tensor(kinds)
                mask[i, : len(row)] = 1
            with torch.no_grad():
                out = self.model(input_ids=ids, token_type_ids=types, attention_mask=mask)
            best = out.logits.argmax(-1).tolist()
            for (n, (_, word_ids, _)), row in zip(batch, best, strict=True):
                previous = None
                for position, word in enumerate(word_ids):
                    if word is not None and word != previous:  # a word's first sub-token
                        tags[n][word] = self.labels[row[position]]
                    previous = word
        return [cardtext.spans(t, ws, tg) for t, (ws, _), tg in zip(texts, cut, tags, strict=True)]


def texts_of(body: bytes, content_type: str) -> list[str]:
    """The cards in a request body; ``ValueError`` names what is wrong with it."""
    if content_type.startswith("text/plain"):
        return [body.decode("utf-8")]
    payload = json.loads(body or b"{}")
    if isinstance(payload, str):
        return [payload]
    if isinstance(payload, dict) and "instances" in payload:
        texts = payload["instances"]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError('"instances" must be a list of strings')
        return texts
    if isinstance(payload, dict) and isinstance(payload.get("text"), str):
        return [payload["text"]]
    raise ValueError('expected {"text": "..."}, {"instances": ["...", ...]} or text/plain')


def make_handler(model: NerModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            return

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/ping":
                self._send(200, {})
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/invocations":
                self._send(404, {"error": f"no route {self.path}"})
                return
            try:
                texts = texts_of(body, self.headers.get("Content-Type") or "application/json")
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"predictions": model.predict(texts)})

    return Handler


def main() -> int:
    """Load the model, then serve until stopped (SIGTERM ends the process)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    model = NerModel(model_dir)
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(model))
    print(f"serving NER model from {model_dir} on port {port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
