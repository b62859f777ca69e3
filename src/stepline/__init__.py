"""stepline: local-first ML pipelines in the shape of AWS Step Functions + SageMaker.

Layers, bottom up (a package imports only packages below it):

1. ``config``, ``wiring`` -- settings, and the registry of defaults filled in here;
2. ``asl`` -- the States Language: parse, validate, evaluate (pure, no I/O);
3. ``storage``, ``images`` -- the object store and job images;
4. ``jobs``, ``serving``, ``tuning`` (and the SageMaker service layer over them) --
   SageMaker-style jobs, endpoints and tuning;
5. ``integrations`` -- Task resources by ARN, over the layer below;
6. ``engine`` -- durable executions of ``asl`` programs, with a task port it is given;
7. ``server``, ``console``, ``awsapi``, ``cli`` -- the ways in.

This module is the composition root: it registers the default task port (the
integrations) in :mod:`stepline.wiring`, so ``stepline.asl.execute`` and ``Engine()`` run
Task states against them without the lower layers importing the upper ones.
"""

from typing import Any

from stepline import wiring

__version__ = "0.1.0"


def _default_task_port(**options: Any) -> Any:
    # Imported on first use: ``import stepline`` stays cheap, and only the root knows it.
    from stepline.integrations import default_task_port

    return default_task_port(**options)


wiring.register_task_port_factory(_default_task_port)
