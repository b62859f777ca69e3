"""stepline: local-first ML pipelines in the shape of AWS Step Functions + SageMaker.

Layers, bottom up: ``asl`` (the States Language: parse, validate, evaluate; pure),
``engine`` (durable executions), ``storage``/``images``/``jobs`` (SageMaker-style jobs),
``integrations`` (Task resources by ARN), ``cli``.
"""

__version__ = "0.1.0"
