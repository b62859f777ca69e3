"""``Workflow`` and ``Execution``, under the names of AWS's ``stepfunctions.workflow``."""

from stepline.sdk.views import OutlineView, ProgressView, graph_view, progress_view
from stepline.sdk.workflow import Execution, ExecutionStatus, Workflow

__all__ = [
    "Execution",
    "ExecutionStatus",
    "OutlineView",
    "ProgressView",
    "Workflow",
    "graph_view",
    "progress_view",
]
