"""SageMaker hosting contract for the NER model: ``serve`` -> HTTP on ``SAGEMAKER_BIND_TO_PORT``.

The endpoint's container is the training image started with ``serve`` (``train.py`` hands it
here).  The model artifact is extracted at ``/opt/ml/model`` (``SM_MODEL_DIR`` overrides it);
the server loads it once, then answers ``GET /ping`` with 200 and ``POST /invocations`` with
the entities found in each card.

Request: ``{"text": "..."}``, ``{"instances": ["...", ...]}`` (JSON) or the card as
``text/plain``.  Response (JSON): ``{"predictions": [[{"type", "text", "start", "end"}, ...]]}``
where ``start``/``end`` are word indices (end exclusive) of the whitespace-split card.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_TOKENS = 256


class NerModel:
    """The fine-tuned model and its tokenizer, predicting word-level entity spans."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModelForTokenClassification

        self.torch = torch
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.labels = json.loads((model_dir / "labels.json").read_text())
        self.model = AutoModelForTokenClassification.from_pretrained(str(model_dir)).eval()

    def predict(self, text: str) -> list[dict[str, Any]]:
        words = text.split()
        if not words:
            return []
        enc = self.tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False)
        cls_id, sep_id = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        ids = [cls_id, *enc.ids[: MAX_TOKENS - 2], sep_id]
        word_ids = [None, *enc.word_ids[: MAX_TOKENS - 2], None]
        with self.torch.no_grad():
            logits = self.model(input_ids=self.torch.tensor([ids])).logits[0]
        best = logits.argmax(-1).tolist()
        tags: dict[int, str] = {}
        for position, word in enumerate(word_ids):
            if word is not None and word not in tags:  # a word's first sub-token decides
                tags[word] = self.labels[best[position]]
        return spans(words, [tags.get(i, "O") for i in range(len(words))])


def spans(words: list[str], tags: list[str]) -> list[dict[str, Any]]:
    """BIO tags -> entity spans (an I- after a different type starts a new span)."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for i, tag in enumerate(tags):
        kind = tag[2:] if tag != "O" else None
        if kind is not None and tag.startswith("I-") and current and current["type"] == kind:
            current["end"] = i + 1
            continue
        if current is not None:
            out.append(current)
            current = None
        if kind is not None:
            current = {"type": kind, "start": i, "end": i + 1}
    if current is not None:
        out.append(current)
    for span in out:
        span["text"] = " ".join(words[span["start"] : span["end"]])
    return out


def texts_of(body: bytes, content_type: str) -> list[str]:
    """The cards in a request body."""
    if content_type.startswith("text/plain"):
        return [body.decode("utf-8")]
    payload = json.loads(body or b"{}")
    if isinstance(payload, str):
        return [payload]
    if "instances" in payload:
        return [str(t) for t in payload["instances"]]
    if "text" in payload:
        return [str(payload["text"])]
    raise ValueError('expected {"text": "..."} or {"instances": ["...", ...]}')


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
            self._send(200, {"predictions": [model.predict(t) for t in texts]})

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
