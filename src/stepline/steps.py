"""States, steps and placeholders, under the names of AWS's ``stepfunctions.steps``.

Porting a Data Science SDK script means changing its imports::

    from stepline.steps import Chain, TrainingStep, ExecutionInput   # was stepfunctions.steps
    from stepline.workflow import Workflow                           # was stepfunctions.workflow
    from stepline.sdk.jobs import Estimator                          # was sagemaker.estimator
"""

from stepline.sdk.choice import BaseRule, ChoiceRule, CompoundRule, ConditionRule, NotRule, Rule
from stepline.sdk.intrinsics import Intrinsic, Path, States, jsonata
from stepline.sdk.placeholders import (
    ExecutionInput,
    MapItemIndex,
    MapItemValue,
    Placeholder,
    StepInput,
    Variable,
)
from stepline.sdk.sagemaker import (
    EndpointConfigStep,
    EndpointStep,
    ModelStep,
    ProcessingStep,
    TrainingStep,
    TransformStep,
    TuningStep,
)
from stepline.sdk.service import LambdaStep, StepFunctionsStartExecutionStep
from stepline.sdk.states import (
    Catch,
    Chain,
    Choice,
    DuplicateStatesInChain,
    Fail,
    FrozenGraph,
    Graph,
    Map,
    Parallel,
    Pass,
    Retry,
    State,
    Succeed,
    Task,
    Wait,
)

__all__ = [
    "BaseRule",
    "Catch",
    "Chain",
    "Choice",
    "ChoiceRule",
    "CompoundRule",
    "ConditionRule",
    "DuplicateStatesInChain",
    "EndpointConfigStep",
    "EndpointStep",
    "ExecutionInput",
    "Fail",
    "FrozenGraph",
    "Graph",
    "Intrinsic",
    "LambdaStep",
    "Map",
    "MapItemIndex",
    "MapItemValue",
    "ModelStep",
    "NotRule",
    "Parallel",
    "Pass",
    "Path",
    "Placeholder",
    "ProcessingStep",
    "Retry",
    "Rule",
    "State",
    "StepFunctionsStartExecutionStep",
    "StepInput",
    "States",
    "Succeed",
    "Task",
    "TrainingStep",
    "TransformStep",
    "TuningStep",
    "Variable",
    "Wait",
    "jsonata",
]
