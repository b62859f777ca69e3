"""Script mode as AWS's framework containers run it (``SAGEMAKER_TRAINING_MODULE``).

The training toolkit's ``trainer.train()`` imports this module and calls :func:`main`, and
turns what it raises into ``/opt/ml/output/failure``.  Like the scikit-learn, PyTorch and
Hugging Face containers' own training modules, it runs the user's entry point with
``capture_error=True``, so a failing script's standard error becomes the ``ErrorMessage`` of
``ExecuteUserScriptError`` in ``FailureReason``.
"""

from __future__ import annotations


def main() -> None:
    from sagemaker_training import entry_point, environment

    env = environment.Environment()
    entry_point.run(
        uri=env.module_dir,
        user_entry_point=env.user_entry_point,
        args=env.to_cmd_args(),
        env_vars=env.to_env_vars(),
        capture_error=True,
    )
