"""What every integration reads from a Task's parameters, read one way.

Why a module of its own: each integration (Lambda, Step Functions, SageMaker, S3, the AWS
SDK's) reads its request from the same ``TaskRequest.parameters``, and the ones that pass a
document on (a Lambda's ``Payload``, a child execution's ``Input``) accept it as JSON text
too, as AWS does; one reading keeps them from drifting apart.
"""

from __future__ import annotations

import json
from typing import Any

from stepline.asl.program import TaskRequest


def object_params(request: TaskRequest) -> dict[str, Any]:
    """The Task's parameters when they are an object; ``{}`` otherwise (none given, or a
    JSONata ``Arguments`` that evaluated to something else)."""
    return request.parameters if isinstance(request.parameters, dict) else {}


def json_document(value: Any) -> Any:
    """``value``, parsed when it is a string that holds JSON: ``"{\\"a\\": 1}"`` and
    ``{"a": 1}`` pass the same document on; any other string is passed on as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value
