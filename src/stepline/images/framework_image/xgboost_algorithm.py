"""XGBoost as a SageMaker built-in algorithm: the algorithm container's contract, on ``xgboost``.

Training (``train`` without a ``sagemaker_program`` hyperparameter):

* hyperparameters arrive as strings in ``hyperparameters.json``; ``num_round`` is required,
  every other one is an XGBoost booster parameter (``objective``, ``eta``, ``max_depth``, ...);
* channels ``train`` (required) and ``validation`` (optional) hold CSV (label in the first
  column, no header; ``ContentType`` ``text/csv``) or LIBSVM (``text/libsvm``, the default)
  files; every file in the channel is read;
* each round logs ``[N]#011train-METRIC:V#011validation-METRIC:V`` (a tab where AWS's logs show
  ``#011``), which the algorithm's metric definitions (``train:*``, ``validation:*``) read;
* the model is saved as ``/opt/ml/model/xgboost-model``.

Serving reads ``text/csv`` or ``text/libsvm`` request bodies and answers CSV predictions, or
``{"predictions": [{"score": ...}]}`` for ``application/json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ML = Path("/opt/ml")
#: Hyperparameters that are the algorithm's own, not booster parameters.
_NOT_BOOSTER = {"num_round", "early_stopping_rounds", "csv_weights", "_tuning_objective_metric"}


def _number(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _content_type(channel: str) -> str:
    try:
        config = json.loads((ML / "input/config/inputdataconfig.json").read_text())
    except (OSError, ValueError):
        config = {}
    kind = (config.get(channel) or {}).get("ContentType") or "text/libsvm"
    return kind.split(";")[0].strip().lower()


def _load_channel(channel: str) -> Any | None:
    import numpy as np
    import xgboost as xgb

    folder = ML / "input/data" / channel
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        return None
    kind = _content_type(channel)
    if kind in ("text/csv", "csv"):
        rows = [np.loadtxt(p, delimiter=",", ndmin=2) for p in files]
        data = np.vstack(rows)
        return xgb.DMatrix(data[:, 1:], label=data[:, 0])
    if kind in ("text/libsvm", "libsvm", "text/x-libsvm"):
        from sklearn.datasets import load_svmlight_files

        parts = load_svmlight_files([str(p) for p in files])
        xs, ys = parts[0::2], parts[1::2]
        import scipy.sparse as sp

        width = max(x.shape[1] for x in xs)
        xs = [sp.csr_matrix((x.data, x.indices, x.indptr), shape=(x.shape[0], width)) for x in xs]
        return xgb.DMatrix(sp.vstack(xs), label=np.concatenate(ys))
    raise ValueError(f"channel {channel}: content type {kind!r} is not text/csv or text/libsvm")


def main() -> None:
    import xgboost as xgb

    try:
        raw = json.loads((ML / "input/config/hyperparameters.json").read_text())
        params = {k: _number(str(v)) for k, v in raw.items()}
        if "num_round" not in params:
            raise ValueError("Missing required hyperparameter: num_round")
        train = _load_channel("train")
        if train is None:
            raise ValueError("the train channel is required and holds no data")
        validation = _load_channel("validation")
        evals = [(train, "train")] + ([(validation, "validation")] if validation else [])
        booster_params = {k: v for k, v in params.items() if k not in _NOT_BOOSTER}
        booster_params.setdefault("nthread", int(os.environ.get("SM_NUM_CPUS", "1")))

        class Logger(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
                cells = [
                    f"{data}-{metric}:{values[-1]:.5f}"
                    for data, metrics in evals_log.items()
                    for metric, values in metrics.items()
                ]
                print(f"[{epoch}]\t" + "\t".join(cells), flush=True)
                return False

        booster = xgb.train(
            booster_params,
            train,
            num_boost_round=int(params["num_round"]),
            evals=evals,
            early_stopping_rounds=params.get("early_stopping_rounds"),
            callbacks=[Logger()],
            verbose_eval=False,
        )
        model_dir = ML / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        booster.save_model(str(model_dir / "xgboost-model"))
    except Exception as exc:  # noqa: BLE001 - reported through the failure file, as AWS does
        failure = ML / "output/failure"
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(f"ClientError: {exc}")
        print(f"ClientError: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def load_model(model_dir: str) -> Any:
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(Path(model_dir) / "xgboost-model"))
    return booster


def decode(body: bytes, content_type: str) -> Any:
    import numpy as np
    import xgboost as xgb

    kind = content_type.split(";")[0].strip().lower()
    text = body if isinstance(body, str) else body.decode()
    body = text.encode()
    if kind in ("text/csv", "csv"):
        return xgb.DMatrix(np.loadtxt(text.splitlines(), delimiter=",", ndmin=2))
    if kind in ("text/libsvm", "libsvm", "text/x-libsvm"):
        import io

        from sklearn.datasets import load_svmlight_file

        x, _ = load_svmlight_file(io.BytesIO(body))
        return xgb.DMatrix(x)
    raise ValueError(f"Content type {content_type} is not supported by this framework.")


def encode(prediction: Any, accept: str) -> bytes:
    """Predictions as the algorithm answers: CSV (comma-separated for an endpoint, one a line
    under batch transform, ``SAGEMAKER_BATCH``, so each record's output lines up with its
    input), or JSON ``{"predictions": [{"score": ...}]}``."""
    values = [float(v) for v in list(getattr(prediction, "tolist", lambda: prediction)())]
    if accept.split(";")[0].strip().lower() == "application/json":
        return json.dumps({"predictions": [{"score": v} for v in values]}).encode()
    separator = "\n" if os.environ.get("SAGEMAKER_BATCH") == "true" else ","
    return separator.join(repr(v) for v in values).encode()
