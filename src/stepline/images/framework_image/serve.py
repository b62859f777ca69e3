"""The model server of stepline's framework images: SageMaker's hosting contract, in Python.

AWS's framework containers serve models with Multi Model Server or TorchServe (both Java) or,
for scikit-learn, gunicorn + Flask; all of them call the user's handler functions through the
contract of AWS's ``sagemaker-inference`` toolkit.  This server keeps that contract and its
default decoders and encoders (``sagemaker_inference.decoder`` / ``encoder``) without Java:

* ``GET /ping`` answers 200 once the model is loaded;
* ``POST /invocations`` runs ``transform_fn(model, body, content_type, accept)`` if the user
  module defines it, else ``output_fn(predict_fn(input_fn(body, content_type), model), accept)``
  with a framework default for each function the module leaves out;
* the user module is ``SAGEMAKER_PROGRAM`` from ``SAGEMAKER_SUBMIT_DIRECTORY`` (an S3 URI of
  ``sourcedir.tar.gz``, a tarball or a folder; default ``/opt/ml/model/code``), and
  ``requirements.txt`` beside it is installed first, as AWS's containers do.

What differs from AWS: one Python process with a thread per request instead of
``SAGEMAKER_MODEL_SERVER_WORKERS`` worker processes, and no multi-model mode.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL_DIR = "/opt/ml/model"
FRAMEWORK = os.environ.get("STEPLINE_FRAMEWORK", "")


def _safe_extract(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")


def _code_dir(submit: str) -> Path | None:
    if submit.startswith("s3://"):
        import boto3

        bucket, _, key = submit[5:].partition("/")
        tmp = Path(tempfile.mkdtemp(prefix="code-"))
        archive = tmp / "sourcedir.tar.gz"
        boto3.client("s3").download_file(bucket, key, str(archive))
        _safe_extract(archive, tmp / "code")
        return tmp / "code"
    path = Path(submit)
    if path.is_dir():
        return path
    if path.is_file() and tarfile.is_tarfile(path):
        dest = Path(tempfile.mkdtemp(prefix="code-"))
        _safe_extract(path, dest)
        return dest
    return None


def load_user_module() -> Any | None:
    """The user's inference module, or None when the model needs none (built-in XGBoost)."""
    program = os.environ.get("SAGEMAKER_PROGRAM")
    if not program:
        return None
    submit = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY") or f"{MODEL_DIR}/code"
    staged = Path(MODEL_DIR) / "code"
    if submit.startswith("s3://") and (staged / program).is_file():
        submit = str(staged)  # stepline staged the S3 code beside the model already
    code = _code_dir(submit)
    if code is None:
        raise FileNotFoundError(f"cannot find the code of SAGEMAKER_PROGRAM={program}")
    requirements = code / "requirements.txt"
    if requirements.is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(requirements)], check=True
        )
    sys.path.insert(0, str(code))
    return importlib.import_module(Path(program).stem)


# -- framework defaults (what AWS's containers do when the user module leaves one out) ------


def default_model_fn(model_dir: str) -> Any:
    if FRAMEWORK == "xgboost":
        import xgboost_algorithm

        return xgboost_algorithm.load_model(model_dir)
    if FRAMEWORK == "pytorch":
        import torch

        path = Path(model_dir) / "model.pth"
        if path.exists():
            return torch.jit.load(str(path), map_location="cpu")
    if FRAMEWORK == "huggingface":
        from transformers import pipeline

        task = os.environ.get("HF_TASK") or hf_task_of(model_dir)
        return pipeline(task=task, model=model_dir)
    raise NotImplementedError(
        "Please provide a model_fn implementation. See documentation for model_fn at "
        "https://sagemaker.readthedocs.io/en/stable/"
    )


#: A model class's suffix -> the pipeline task that serves it (the first that matches).
_HF_TASKS = (
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("ForImageClassification", "image-classification"),
)


def hf_task_of(model_dir: str) -> str:
    """The task for a model deployed without ``HF_TASK``: read from the architecture its
    ``config.json`` names, as AWS's Hugging Face inference toolkit does; a bare encoder
    serves ``feature-extraction``."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        raise ValueError(
            "HF_TASK is not set and the model has no readable config.json to infer it from"
        ) from None
    for architecture in config.get("architectures") or []:
        for suffix, task in _HF_TASKS:
            if architecture.endswith(suffix):
                return task
    return "feature-extraction"


def default_input_fn(body: bytes | str, content_type: str) -> Any:
    if FRAMEWORK == "xgboost":
        import xgboost_algorithm

        return xgboost_algorithm.decode(body, content_type)
    if FRAMEWORK == "huggingface":
        return json.loads(body)
    from sagemaker_inference import decoder

    return decoder.decode(body, content_type)


def default_predict_fn(data: Any, model: Any) -> Any:
    if FRAMEWORK == "xgboost":
        # As AWS's XGBoost container does: features are matched by position.  A model trained
        # on a DataFrame (AWS's script-mode example does) carries column names that a CSV or
        # LIBSVM request never has, and xgboost would refuse it otherwise.
        return model.predict(data, validate_features=False)
    if FRAMEWORK == "pytorch":
        import torch

        with torch.no_grad():
            return model(torch.as_tensor(data))
    if FRAMEWORK == "huggingface":
        inputs = data.pop("inputs", data) if isinstance(data, dict) else data
        params = data.get("parameters", {}) if isinstance(data, dict) else {}
        return model(inputs, **params)
    return model.predict(data)


def default_output_fn(prediction: Any, accept: str) -> bytes | str:
    if FRAMEWORK == "xgboost":
        import xgboost_algorithm

        return xgboost_algorithm.encode(prediction, accept)
    if FRAMEWORK == "pytorch" and hasattr(prediction, "detach"):
        prediction = prediction.detach().cpu().numpy()
    if FRAMEWORK == "huggingface":
        return json.dumps(prediction)
    from sagemaker_inference import encoder

    return encoder.encode(prediction, accept)


def default_accept() -> str:
    """The answer's type when the client takes any (no ``Accept``, or ``*/*``):
    ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` if set, else CSV for XGBoost (the algorithm
    container's default, what ``predictor.predict(csv).decode()`` code expects) and JSON
    for the other frameworks."""
    configured = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT")
    if configured:
        return configured
    return "text/csv" if FRAMEWORK == "xgboost" else "application/json"


class Handler:
    """The user's functions over the framework defaults, loaded once."""

    def __init__(self) -> None:
        self.module = load_user_module()
        pick = lambda name, default: getattr(self.module, name, None) or default  # noqa: E731
        self.model_fn = pick("model_fn", default_model_fn)
        self.input_fn = pick("input_fn", default_input_fn)
        self.predict_fn = pick("predict_fn", default_predict_fn)
        self.output_fn = pick("output_fn", default_output_fn)
        self.transform_fn = getattr(self.module, "transform_fn", None)
        self.model = self.model_fn(MODEL_DIR)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        payload: bytes | str = body
        # As the toolkit's Transformer does: text types reach the handlers decoded.
        if content_type.split(";")[0].strip() in ("application/json", "text/csv"):
            payload = body.decode("utf-8")
        if self.transform_fn is not None:
            result = self.transform_fn(self.model, payload, content_type, accept)
        else:
            data = self.input_fn(payload, content_type)
            result = self.output_fn(self.predict_fn(data, self.model), accept)
        if isinstance(result, tuple):  # (body, content type), as the toolkit allows
            result, accept = result
        if isinstance(result, str):
            result = result.encode()
        return bytes(result), accept


def make_server(handler: Handler, port: int) -> ThreadingHTTPServer:
    class Request(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/ping":
                self._send(200, b"\n", "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/invocations":
                self._send(404, b"not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            content_type = self.headers.get("Content-Type") or "application/json"
            accept = self.headers.get("Accept") or "*/*"
            if accept.split(";")[0].strip() == "*/*":
                accept = default_accept()
            try:
                out, out_type = handler.invoke(body, content_type, accept)
            except Exception as exc:  # noqa: BLE001 - the client gets the error, as on AWS
                traceback.print_exc()
                status = 415 if type(exc).__name__ == "UnsupportedFormatError" else 500
                self._send(status, f"{type(exc).__name__}: {exc}\n".encode(), "text/plain")
                return
            self._send(200, out, out_type)

    # Inside a container the published port must be reachable from the host; in the process
    # sandbox the job shares the host network, so stay on loopback.
    in_container = Path("/run/.containerenv").exists() or Path("/.dockerenv").exists()
    host = "0.0.0.0" if in_container else "127.0.0.1"
    return ThreadingHTTPServer((host, port), Request)


def main() -> None:
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    handler = Handler()
    server = make_server(handler, port)
    sys.stderr.write(f"stepline framework model server on port {port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
