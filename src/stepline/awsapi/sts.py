"""STS GetCallerIdentity and IAM GetRole (the query protocol): who the caller is, as AWS says.

Why: the SageMaker SDK derives the execution role from the caller's identity
(``get_execution_role()``: GetCallerIdentity, then IAM GetRole), and ``default_bucket()`` names
the bucket after the account.  The caller is always this home's one principal, an assumed role
``arn:aws:sts::ACCOUNT:assumed-role/ROLE/stepline`` whose role ARN
``arn:aws:iam::ACCOUNT:role/ROLE`` GetRole returns.  stepline does not enforce IAM, so GetRole
answers for any well-formed role name (a notebook's ``get_role(RoleName=...)`` finds its role).

The role name is ``[aws] role_name`` in config.toml (or ``STEPLINE_ROLE_NAME``), default
``StepLineExecutionRole``; the account id and region come from :mod:`stepline.config`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from stepline import config
from stepline.awsapi._base import AwsError, AwsRequest, AwsResponse

DEFAULT_ROLE_NAME = "StepLineExecutionRole"
SESSION_NAME = "stepline"
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
_CREATED = "2024-01-01T00:00:00Z"
_TRUST = (
    "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22"
    "%2C%22Principal%22%3A%7B%22Service%22%3A%22sagemaker.amazonaws.com%22%7D%2C%22Action%22"
    "%3A%22sts%3AAssumeRole%22%7D%5D%7D"
)


def role_name() -> str:
    """The execution role every caller assumes."""
    return str(config.setting("aws", "role_name", "STEPLINE_ROLE_NAME", DEFAULT_ROLE_NAME))


def role_arn(name: str | None = None) -> str:
    """``arn:aws:iam::ACCOUNT:role/NAME`` (the execution role by default)."""
    return config.arn("iam", f"role/{name or role_name()}")


def _unique_id(prefix: str, text: str) -> str:
    return prefix + hashlib.sha256(text.encode()).hexdigest()[:17].upper()


class QueryService:
    """One query-protocol service: form ``Action`` -> handler returning the Result's XML."""

    def __init__(
        self,
        name: str,
        signing_name: str,
        namespace: str,
        operations: dict[str, Callable[[dict[str, str]], str]],
    ) -> None:
        self.name = name
        self.signing_name = signing_name
        self.namespace = namespace
        self.operations = operations

    def _params(self, req: AwsRequest) -> dict[str, str]:
        params = dict(req.query)
        if req.body:
            params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    def accepts(self, req: AwsRequest) -> bool:
        return req.service == self.signing_name

    def handle(self, req: AwsRequest) -> AwsResponse:
        params = self._params(req)
        action = params.get("Action", "")
        operation = self.operations.get(action)
        if operation is None:
            raise AwsError(
                "InvalidAction",
                f"Could not find operation {action or '(no Action)'} for {self.name} "
                f"(stepline serves {', '.join(sorted(self.operations))})",
            )
        result = operation(params)
        body = (
            f'<{action}Response xmlns="{self.namespace}"><{action}Result>{result}'
            f"</{action}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            f"</ResponseMetadata></{action}Response>"
        )
        return AwsResponse(200, {"Content-Type": "text/xml"}, body.encode())


def _get_caller_identity(_params: dict[str, str]) -> str:
    account = config.account_id()
    role = role_name()
    arn = f"arn:aws:sts::{account}:assumed-role/{role}/{SESSION_NAME}"
    user_id = f"{_unique_id('AROA', account + role)}:{SESSION_NAME}"
    return f"<Arn>{escape(arn)}</Arn><UserId>{user_id}</UserId><Account>{account}</Account>"


def _get_role(params: dict[str, str]) -> str:
    name = params.get("RoleName", "")
    if not _ROLE_NAME.fullmatch(name):
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value '{name}' at 'roleName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        )
    return (
        f"<Role><Path>/</Path><RoleName>{escape(name)}</RoleName>"
        f"<RoleId>{_unique_id('AROA', config.account_id() + name)}</RoleId>"
        f"<Arn>{escape(role_arn(name))}</Arn><CreateDate>{_CREATED}</CreateDate>"
        f"<AssumeRolePolicyDocument>{_TRUST}</AssumeRolePolicyDocument>"
        "<MaxSessionDuration>3600</MaxSessionDuration></Role>"
    )


STS = QueryService(
    "sts",
    "sts",
    "https://sts.amazonaws.com/doc/2011-06-15/",
    {"GetCallerIdentity": _get_caller_identity},
)
IAM = QueryService(
    "iam", "iam", "https://iam.amazonaws.com/doc/2010-05-08/", {"GetRole": _get_role}
)
