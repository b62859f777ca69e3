"""stepline's layers, top to bottom: a package imports only its own layer or those below it.

Why a list in code: the layering is the architecture a newcomer reads in the folder names,
and it holds only while something checks it.  ``tests/test_layers.py`` reads every import in
``src/stepline`` -- imports inside functions included, which is where layering quietly
breaks -- and fails on an import that goes up, or on a cycle between packages of one layer.
The README's layer line is generated from this list and checked by the same test.

Where a lower layer needs what an upper one provides (the default task port for the
language, the transform runner and job environment for the jobs layer, the AWS gateway for
the endpoints server), the composition root, ``stepline/__init__.py``, registers it in
:mod:`stepline.wiring`.
"""

from __future__ import annotations

#: Top to bottom.  Each entry is one layer: the top-level packages or modules in it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("console", "awsapi", "steps", "workflow", "inputs"),
    ("sdk",),
    ("views",),
    ("integrations",),
    ("sagemaker",),
    ("serving", "tuning"),
    ("jobs",),
    ("images",),
    ("engine",),
    ("asl",),
    ("storage", "sandbox"),
    ("db",),
    ("config", "wiring", "layers", "detached", "errors"),
)

#: Modules outside the layering: the composition root and ``python -m stepline``.
ROOTS = ("__init__", "__main__")

#: The SageMaker service layer stands in front of these packages: the callers below reach
#: SageMaker's jobs and endpoints through ``stepline.sagemaker`` only, so they all get one
#: validation, SageMaker's errors and boto3's shapes.
SERVICE_LAYER = "sagemaker"
BEHIND_SERVICE_LAYER = ("jobs", "serving", "tuning")
THROUGH_SERVICE_LAYER = ("cli", "console", "awsapi", "views", "sdk", "integrations")
#: Modules of those callers that manage the ``stepline server`` process itself, which is
#: no SageMaker resource.
SERVICE_LAYER_EXEMPT = ("stepline/cli/server.py",)


def layer_of(name: str) -> int:
    """The index of ``name``'s layer (0 is the top); ``KeyError`` for an unlisted one."""
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise KeyError(name)


def readme_line() -> str:
    """The line the README shows (and the test finds there)."""
    return "Layers, top to bottom: " + " → ".join(", ".join(layer) for layer in LAYERS) + "."


__all__ = [
    "BEHIND_SERVICE_LAYER",
    "LAYERS",
    "ROOTS",
    "SERVICE_LAYER",
    "SERVICE_LAYER_EXEMPT",
    "THROUGH_SERVICE_LAYER",
    "layer_of",
    "readme_line",
]
