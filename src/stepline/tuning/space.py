"""Parameter ranges -> optuna distributions, and strategies -> optuna samplers and pruners.

Why optuna: its samplers (random, TPE for Bayesian, grid) and pruners (median rule for
SageMaker's ``TrainingJobEarlyStoppingType=Auto``, Hyperband) are tested optimisers; this
module only translates SageMaker's request into them.  Values go to the training job as
strings, as SageMaker sends them.  ``ReverseLogarithmic`` (dense near 1) is sampled as
``1 - x`` on a log scale.  ``Auto`` scaling is taken as ``Linear`` except for ranges that
span more than three orders of magnitude above zero, which are sampled logarithmically.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import optuna

REVERSE = "__reverse_log__"


def _float(text: str) -> float:
    return float(text)


def distributions(ranges: dict[str, Any]) -> dict[str, optuna.distributions.BaseDistribution]:
    """One optuna distribution per tuned hyperparameter (reverse-log ones renamed)."""
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for r in ranges.get("IntegerParameterRanges", []):
        low, high = int(_float(r["MinValue"])), int(_float(r["MaxValue"]))
        log = _log(r.get("ScalingType", "Auto"), low, high)
        out[r["Name"]] = optuna.distributions.IntDistribution(low, high, log=log)
    for r in ranges.get("ContinuousParameterRanges", []):
        low, high = _float(r["MinValue"]), _float(r["MaxValue"])
        scaling = r.get("ScalingType", "Auto")
        if scaling == "ReverseLogarithmic":
            out[r["Name"] + REVERSE] = optuna.distributions.FloatDistribution(
                1 - high, 1 - low, log=True
            )
        else:
            out[r["Name"]] = optuna.distributions.FloatDistribution(
                low, high, log=_log(scaling, low, high)
            )
    for r in ranges.get("CategoricalParameterRanges", []):
        out[r["Name"]] = optuna.distributions.CategoricalDistribution(list(r["Values"]))
    return out


def _log(scaling: str, low: float, high: float) -> bool:
    if scaling == "Logarithmic":
        return True
    if scaling == "Auto":
        return low > 0 and high / low > 1000
    return False


def check_ranges(ranges: dict[str, Any]) -> list[str]:
    """SageMaker's range rules (min < max, log scales need positive values ...)."""
    errors = []
    for kind in ("IntegerParameterRanges", "ContinuousParameterRanges"):
        for i, r in enumerate(ranges.get(kind, [])):
            where = f"ParameterRanges.{kind}[{i}]"
            try:
                low, high = _float(r["MinValue"]), _float(r["MaxValue"])
            except ValueError:
                errors.append(f"{where}: MinValue and MaxValue must be numbers")
                continue
            if not low < high:
                errors.append(f"{where}: MinValue must be less than MaxValue")
            scaling = r.get("ScalingType", "Auto")
            if scaling == "Logarithmic" and low <= 0:
                errors.append(f"{where}: Logarithmic scaling needs values greater than 0")
            if scaling == "ReverseLogarithmic":
                if kind == "IntegerParameterRanges":
                    errors.append(f"{where}: ReverseLogarithmic is for continuous ranges only")
                elif not (0 <= low and high < 1):
                    errors.append(f"{where}: ReverseLogarithmic needs 0 <= MinValue < MaxValue < 1")
    names = [
        r["Name"]
        for kind in (
            "IntegerParameterRanges",
            "ContinuousParameterRanges",
            "CategoricalParameterRanges",
        )
        for r in ranges.get(kind, [])
    ]
    if len(names) != len(set(names)):
        errors.append("ParameterRanges: a hyperparameter is named twice")
    if not names:
        errors.append("ParameterRanges: at least one range is required")
    return errors


def to_hyperparameters(params: dict[str, Any]) -> dict[str, str]:
    """Sampled values as the strings a training job receives."""
    out = {}
    for name, value in params.items():
        if name.endswith(REVERSE):
            out[name[: -len(REVERSE)]] = repr(1 - float(value))
        elif isinstance(value, bool) or isinstance(value, str):
            out[name] = str(value)
        elif isinstance(value, int):
            out[name] = str(value)
        else:
            out[name] = repr(float(value))
    return out


def from_hyperparameters(
    hps: dict[str, str], dists: dict[str, optuna.distributions.BaseDistribution]
) -> dict[str, Any] | None:
    """Back to optuna's params (warm start); None when a value is outside the space."""
    out: dict[str, Any] = {}
    for name, dist in dists.items():
        base = name[: -len(REVERSE)] if name.endswith(REVERSE) else name
        if base not in hps:
            return None
        raw = hps[base]
        try:
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                value: Any = raw
            elif isinstance(dist, optuna.distributions.IntDistribution):
                value = int(float(raw))
            else:
                value = float(raw)
                if name.endswith(REVERSE):
                    value = 1 - value
        except ValueError:
            return None
        if not dist._contains(dist.to_internal_repr(value)):
            return None
        out[name] = value
    return out


def grid(ranges: dict[str, Any]) -> dict[str, list[Any]]:
    """Grid search space (categorical ranges only, as SageMaker requires)."""
    return {r["Name"]: list(r["Values"]) for r in ranges.get("CategoricalParameterRanges", [])}


def grid_size(ranges: dict[str, Any]) -> int:
    """How many combinations the grid has."""
    return math.prod(len(v) for v in grid(ranges).values()) if grid(ranges) else 0


def grid_points(ranges: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination, in a stable order."""
    space = grid(ranges)
    names = sorted(space)
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(space[n] for n in names))
    ]


def sampler(strategy: str, seed: int | None, max_jobs: int, ranges: dict[str, Any]) -> Any:
    """The optuna sampler for SageMaker's ``Strategy``."""
    if strategy == "Bayesian":
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=max(2, min(10, max_jobs // 5)),
            multivariate=True,
            constant_liar=True,
        )
    if strategy == "Grid":
        return optuna.samplers.GridSampler(grid(ranges), seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def pruner(strategy: str, early_stopping: str, hyperband: dict[str, Any] | None) -> Any:
    """Hyperband's own pruner, the median rule for ``Auto`` early stopping, else none."""
    if strategy == "Hyperband":
        cfg = hyperband or {}
        return optuna.pruners.HyperbandPruner(
            min_resource=int(cfg.get("MinResource", 1)),
            max_resource=int(cfg.get("MaxResource", "auto") if cfg.get("MaxResource") else 100),
        )
    if early_stopping == "Auto":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    return optuna.pruners.NopPruner()
