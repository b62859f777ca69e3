"""A job kind is one module of :mod:`stepline.jobs.kinds` plus one line in its ``MODULES``.

What keeps that true: every module of the package is listed (a forgotten line would leave a
kind that nothing serves), each kind has the steps its runs need, and the code that runs
every kind -- the supervisor and the Ray node -- names none of them (nor do the job types
or the log groups of the AWS API).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from stepline.jobs import kinds

SRC = Path(kinds.__file__).resolve().parents[2]


def test_every_kind_module_is_in_the_registry_in_its_order() -> None:
    package = Path(kinds.__file__).parent
    found = sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(kinds.MODULES) == found
    listed = [importlib.import_module(f"stepline.jobs.kinds.{m}").KIND for m in kinds.MODULES]
    assert list(kinds.KINDS.values()) == listed
    assert kinds.get("processing") is kinds.KINDS["processing"]


def test_each_kind_has_the_steps_its_runs_need() -> None:
    for kind in kinds.KINDS.values():
        if kind.external_runner:  # run by a layer above (wiring); on Ray by its own step
            assert kind.prepare is None and kind.finish is None, kind.kind
            assert kind.ray_start is not None, kind.kind
        else:  # the supervisor runs its container; so does the Ray node by default
            assert kind.prepare is not None and kind.finish is not None, kind.kind
        assert callable(kind.ray_finish), kind.kind


def test_the_code_that_runs_every_kind_names_none() -> None:
    names = set(kinds.KINDS)
    shared = (
        "jobs/supervisor.py",
        "jobs/runtimes/ray_node.py",
        "sagemaker/_jobtypes.py",
        "awsapi/logs.py",
    )
    for rel in shared:
        tree = ast.parse((SRC / rel).read_text())
        literals = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        # _jobtypes: a tuning job's trials are training jobs (tuning is no jobs-layer kind).
        allowed = {"training"} if rel == "sagemaker/_jobtypes.py" else set()
        assert not (literals & names) - allowed, f"{rel} names a job kind"
