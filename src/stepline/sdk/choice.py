"""Choice rules, with the Data Science SDK's ``ChoiceRule`` factory names.

``ChoiceRule.NumericGreaterThan("$.score", 0.9)`` renders ``{"Variable": "$.score",
"NumericGreaterThan": 0.9}``.  Variables and ``...Path`` values may be placeholders (any of
them: step input, execution input, a workflow variable).  For JSONata states use
``ChoiceRule.Condition("{% $states.input.score > 0.9 %}")``.
"""

from __future__ import annotations

from typing import Any

from stepline.sdk.placeholders import Placeholder

#: Which Python types a comparator's literal value must have (DS SDK semantics).
_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "Numeric": (int, float),
    "Boolean": (bool,),
    "Timestamp": (str,),
    "Is": (bool,),
}


def _as_path(value: Any, what: str) -> str:
    if isinstance(value, Placeholder):
        return value.to_jsonpath()
    if not isinstance(value, str) or not value.startswith("$"):
        raise ValueError(
            f"Expected {what} must be a placeholder or must start with '$', but got '{value}'"
        )
    return value


class BaseRule:
    """A rule that renders to one entry of ``Choices`` (without ``Next``)."""

    def to_dict(self) -> dict[str, Any]:
        return {}

    def __str__(self) -> str:
        return str(self.to_dict())


class Rule(BaseRule):
    """``Variable`` compared with a literal or (``...Path``) another path."""

    def __init__(self, variable: Any, operator: str, value: Any) -> None:
        self.variable = _as_path(variable, "variable")
        if operator.endswith("Path"):
            value = _as_path(value, "value")
        else:
            for prefix, types in _VALUE_TYPES.items():
                if operator.startswith(prefix) and (
                    not isinstance(value, types) or (bool not in types and isinstance(value, bool))
                ):
                    raise ValueError(f"Expected value to be a {prefix}, but got {value}")
        self.operator = operator
        self.value = value

    def to_dict(self) -> dict[str, Any]:
        return {"Variable": self.variable, self.operator: self.value}

    def __repr__(self) -> str:
        return f"Rule(variable={self.variable!r}, operator={self.operator!r}, value={self.value!r})"


class CompoundRule(BaseRule):
    """``And`` / ``Or`` over several rules."""

    def __init__(self, operator: str, rules: list[BaseRule]) -> None:
        for rule in rules:
            if not isinstance(rule, BaseRule):
                raise ValueError(f"Rule '{rule}' is invalid")
        self.operator = operator
        self.rules = rules

    def to_dict(self) -> dict[str, Any]:
        return {self.operator: [r.to_dict() for r in self.rules]}


class NotRule(BaseRule):
    """``Not`` of one rule."""

    def __init__(self, rule: BaseRule) -> None:
        if not isinstance(rule, BaseRule):
            raise ValueError(f"Rule '{rule}' is invalid")
        self.rule = rule

    def to_dict(self) -> dict[str, Any]:
        return {"Not": self.rule.to_dict()}


class ConditionRule(BaseRule):
    """A JSONata ``Condition`` (``{% ... %}``), for states in JSONata mode."""

    def __init__(self, condition: str) -> None:
        if not (condition.startswith("{%") and condition.endswith("%}")):
            condition = "{% " + condition.strip() + " %}"
        self.condition = condition

    def to_dict(self) -> dict[str, Any]:
        return {"Condition": self.condition}


_COMPARATORS = [
    f"{kind}{op}{suffix}"
    for kind in ("String", "Numeric", "Timestamp")
    for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
    for suffix in ("", "Path")
] + [
    "BooleanEquals",
    "BooleanEqualsPath",
    "StringMatches",
    "IsNull",
    "IsPresent",
    "IsString",
    "IsNumeric",
    "IsTimestamp",
    "IsBoolean",
]


class ChoiceRule:
    """Factory: ``ChoiceRule.<Comparator>(variable, value)``, ``And``, ``Or``, ``Not``."""

    @classmethod
    def And(cls, rules: list[BaseRule]) -> CompoundRule:  # noqa: N802 - ASL's name
        return CompoundRule("And", rules)

    @classmethod
    def Or(cls, rules: list[BaseRule]) -> CompoundRule:  # noqa: N802
        return CompoundRule("Or", rules)

    @classmethod
    def Not(cls, rule: BaseRule) -> NotRule:  # noqa: N802
        return NotRule(rule)

    @classmethod
    def Condition(cls, expression: str) -> ConditionRule:  # noqa: N802
        return ConditionRule(expression)


def _factory(operator: str) -> classmethod:
    def make(cls: type, variable: Any, value: Any) -> Rule:
        return Rule(variable, operator, value)

    make.__name__ = operator
    make.__doc__ = f"A rule with the ``{operator}`` comparator."
    return classmethod(make)


for _name in _COMPARATORS:
    setattr(ChoiceRule, _name, _factory(_name))
