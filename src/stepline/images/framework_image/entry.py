"""Entry point of stepline's builds of AWS's framework images (``train`` or ``serve``).

SageMaker starts a training container as ``docker run IMAGE train`` and a model server as
``docker run IMAGE serve``; AWS's framework images answer both.  This script does the same
inside an image stepline built from its recipe:

* ``train``: the built-in XGBoost algorithm when the image is XGBoost's and no
  ``sagemaker_program`` hyperparameter names a user script; otherwise AWS's own training
  toolkit (``sagemaker-training``), which does script mode exactly as on AWS: it reads
  ``/opt/ml/input/config``, fetches ``sagemaker_submit_directory`` (an S3 URI or a container
  path), installs ``requirements.txt``, passes hyperparameters as ``--name value`` arguments,
  sets ``SM_*`` variables and writes ``/opt/ml/output/failure`` with the command it ran.
* ``serve``: the Python model server beside this file (``serve.py``).
* anything else: run it as a command, as ``docker run IMAGE CMD ...`` would.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _hyperparameters() -> dict:
    path = Path("/opt/ml/input/config/hyperparameters.json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main(argv: list[str]) -> None:
    mode = argv[0] if argv else "train"
    sys.path.insert(0, str(HERE))
    if mode == "train":
        framework = os.environ.get("STEPLINE_FRAMEWORK", "")
        if framework == "xgboost" and "sagemaker_program" not in _hyperparameters():
            import xgboost_algorithm

            xgboost_algorithm.main()
            return
        from sagemaker_training import trainer

        trainer.train()
    elif mode == "serve":
        import serve

        serve.main()
    else:
        os.execvp(mode, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
