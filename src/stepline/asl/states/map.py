"""Map: run the item processor once per item of an array, inline or distributed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stepline.asl import errors as E
from stepline.asl.definition import build_graph
from stepline.asl.errors import StatesError
from stepline.asl.jsonata import compile_jsonata_template, is_jsonata
from stepline.asl.paths import PathNotFound, compile_path
from stepline.asl.states.base import (
    JSONATA,
    NO_VALUE,
    RetryingState,
    StateGen,
    compile_value,
    dumps,
    json_size,
)
from stepline.asl.states.fields import (
    JSONPATH,
    RESULT_IO,
    RETRYING,
    Fields,
    f,
    is_int,
    json_type,
    ptr,
)
from stepline.asl.templates import compile_template

if TYPE_CHECKING:
    from stepline.asl.program import Fiber
    from stepline.asl.validate import Validator


# -- validation: MapState.check and MapState.field_checks (asl/validate.py calls them) ---

MAX_LABEL_LENGTH = 40
MAX_BATCH_BYTES = 256 * 1024
_PROCESSOR_FIELDS = f("StartAt", "States", "Comment", "ProcessorConfig")
_LABEL_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_READER_INPUT_TYPES = ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET")
_CSV_HEADER_LOCATIONS = ("FIRST_ROW", "GIVEN")
_CSV_DELIMITERS = ("COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB")
_WRITER_OUTPUT_TYPES = ("JSON", "JSONL")
_WRITER_TRANSFORMATIONS = ("NONE", "COMPACT", "FLATTEN")


def _processor(v: Validator, processor: Any, path: str, lang: str) -> None:
    if isinstance(processor, dict) and "ProcessorConfig" in processor:
        config, config_path = processor["ProcessorConfig"], ptr(path, "ProcessorConfig")
        if not isinstance(config, dict):
            v.add(config_path, "must be an object")
        else:
            v.object_fields(config, config_path, f("Mode", "ExecutionType"))
            mode = config.get("Mode", "INLINE")
            v.enum(config, "Mode", config_path, ("INLINE", "DISTRIBUTED"))
            v.enum(config, "ExecutionType", config_path, ("STANDARD", "EXPRESS"))
            if mode == "DISTRIBUTED" and "ExecutionType" not in config:
                v.add(config_path, 'a DISTRIBUTED Map needs "ExecutionType"')
    v.graph(processor, path, v.top_lang, _PROCESSOR_FIELDS)


def _item_reader(v: Validator, value: Any, path: str, lang: str) -> None:
    if not v.require_object(value, path):
        return
    _resource_object(v, value, path, lang, f("ReaderConfig"), resource_required=True)
    if "ReaderConfig" not in value:
        return
    config, config_path = value["ReaderConfig"], ptr(path, "ReaderConfig")
    if not v.require_object(config, config_path):
        return
    fields = f(
        "InputType",
        "CSVHeaderLocation",
        "CSVHeaders",
        "CSVDelimiter",
        "MaxItems",
        "ManifestType",
    )
    if lang == JSONPATH:
        fields |= f("MaxItemsPath")
    v.object_fields(config, config_path, fields)
    v.enum(config, "InputType", config_path, _READER_INPUT_TYPES)
    v.enum(config, "CSVHeaderLocation", config_path, _CSV_HEADER_LOCATIONS)
    v.enum(config, "CSVDelimiter", config_path, _CSV_DELIMITERS)
    headers = config.get("CSVHeaders", [])
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        v.add(ptr(config_path, "CSVHeaders"), "must be an array of strings")
    if "MaxItems" in config:
        v.non_negative_int(config["MaxItems"], ptr(config_path, "MaxItems"), lang)
    if "MaxItemsPath" in config:
        v.reference_path(config["MaxItemsPath"], ptr(config_path, "MaxItemsPath"), lang)
        if "MaxItems" in config:
            v.add(config_path, '"MaxItems" and "MaxItemsPath" are mutually exclusive')


def _result_writer(v: Validator, value: Any, path: str, lang: str) -> None:
    if not v.require_object(value, path):
        return
    _resource_object(v, value, path, lang, f("WriterConfig"), resource_required=False)
    if "Resource" not in value and "WriterConfig" not in value:
        v.add(path, 'needs "Resource" or "WriterConfig"')
    if "WriterConfig" in value:
        config, config_path = value["WriterConfig"], ptr(path, "WriterConfig")
        if v.require_object(config, config_path):
            v.object_fields(config, config_path, f("OutputType", "Transformation"))
            v.enum(config, "OutputType", config_path, _WRITER_OUTPUT_TYPES)
            v.enum(config, "Transformation", config_path, _WRITER_TRANSFORMATIONS)


def _resource_object(
    v: Validator,
    value: dict,
    path: str,
    lang: str,
    extra: frozenset[str],
    *,
    resource_required: bool,
) -> None:
    """ItemReader / ResultWriter: a Resource plus Parameters (JSONPath) or Arguments."""
    args = "Parameters" if lang == JSONPATH else "Arguments"
    wrong = "Arguments" if lang == JSONPATH else "Parameters"
    for key, item in value.items():
        field_path = ptr(path, key)
        if key == "Resource":
            v.resource(item, field_path, lang)
        elif key == args:
            if lang == JSONPATH:
                v.template_object(item, field_path, lang)
            else:
                v.arguments(item, field_path, lang)
        elif key == wrong:
            v.add(field_path, f'"{key}" is not allowed in a {lang} state')
        elif key not in extra:
            v.add(field_path, f'unknown field "{key}"')
    if resource_required and "Resource" not in value:
        v.add(path, 'missing required field "Resource"')


def _item_batcher(v: Validator, value: Any, path: str, lang: str) -> None:
    if not v.require_object(value, path):
        return
    fields = f("MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput")
    if lang == JSONPATH:
        fields |= f("MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath")
    v.object_fields(value, path, fields)
    for field in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
        if field in value:
            v.positive_int(value[field], ptr(path, field), lang)
            if is_int(value[field]) and field == "MaxInputBytesPerBatch":
                if value[field] > MAX_BATCH_BYTES:
                    v.add(ptr(path, field), f"must be at most {MAX_BATCH_BYTES}")
        if field + "Path" in value:
            v.reference_path(value[field + "Path"], ptr(path, field + "Path"), lang)
            if field in value:
                v.add(path, f'"{field}" and "{field}Path" are mutually exclusive')
    if not any(f in value for f in fields - {"BatchInput"}):
        v.add(path, "needs MaxItemsPerBatch or MaxInputBytesPerBatch")
    if "BatchInput" in value:
        v.selector(value["BatchInput"], ptr(path, "BatchInput"), lang)


def _items(v: Validator, value: Any, path: str, lang: str) -> None:
    if isinstance(value, list) or (isinstance(value, str) and is_jsonata(value)):
        v.jsonata_value(value, path, lang)
    else:
        v.add(path, f"must be an array or a JSONata expression, not {json_type(value)}")


def _label(v: Validator, value: Any, path: str, lang: str) -> None:
    if not isinstance(value, str) or not value:
        v.add(path, "must be a non-empty string")
    elif len(value) > MAX_LABEL_LENGTH:
        v.add(path, f"must be at most {MAX_LABEL_LENGTH} characters")
    elif _LABEL_FORBIDDEN.search(value):
        v.add(path, "must not contain whitespace or special characters")


class MapState(RetryingState):
    """Iterations run as child fibers, ``MaxConcurrency`` at a time."""

    type = "Map"
    fields = Fields(
        both=RETRYING
        | f("ItemProcessor", "Iterator", "ItemSelector", "ItemReader", "ItemBatcher")
        | f("ResultWriter", "MaxConcurrency", "ToleratedFailurePercentage")
        | f("ToleratedFailureCount", "Label"),
        jsonpath=RESULT_IO
        | f("ItemsPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath")
        | f("ToleratedFailureCountPath"),
        jsonata=f("Items", "Output"),
        transitions=True,
    )
    field_checks = {
        "Items": _items,
        "Label": _label,
        "ItemReader": _item_reader,
        "ItemBatcher": _item_batcher,
        "ResultWriter": _result_writer,
    }
    nesting = "iteration"

    @classmethod
    def check(cls, v: Validator, state: dict, path: str, lang: str, edges: list) -> None:
        """ItemProcessor (or Iterator) is a graph; fields that exclude each other."""
        has_processor, has_iterator = "ItemProcessor" in state, "Iterator" in state
        if has_processor and has_iterator:
            v.add(path, '"ItemProcessor" and "Iterator" are mutually exclusive')
        elif not has_processor and not has_iterator:
            v.add(path, 'missing required field "ItemProcessor"')
        if has_processor:
            _processor(v, state["ItemProcessor"], ptr(path, "ItemProcessor"), lang)
        if has_iterator:
            _processor(v, state["Iterator"], ptr(path, "Iterator"), lang)
        if "Parameters" in state and "ItemSelector" in state:
            v.add(path, '"Parameters" and "ItemSelector" are mutually exclusive')
        v.path_forms_exclusive(
            state,
            path,
            lang,
            ("MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount"),
        )

    @classmethod
    def graphs(cls, spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        proc = spec.get("ItemProcessor") or spec.get("Iterator")
        return [proc] if isinstance(proc, Mapping) else []

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        ql = self.query_language
        processor = spec.get("ItemProcessor") or spec.get("Iterator") or {}
        config = processor.get("ProcessorConfig") or {}
        self.distributed = config.get("Mode") == "DISTRIBUTED"
        self.processor = build_graph(processor, query_language)
        # In a Map, legacy "Parameters" is the per-item selector, not the state's input.
        selector = spec.get("ItemSelector", spec.get("Parameters"))
        self.parameters = None
        if selector is None:
            self.item_selector = None
        elif ql == JSONATA:
            self.item_selector = compile_jsonata_template(selector, "ItemSelector")
        else:
            self.item_selector = compile_template(selector, "ItemSelector")
        self.items_path = (
            compile_path(spec["ItemsPath"])
            if ql != JSONATA and spec.get("ItemsPath") not in (None, "$")
            else None
        )
        self.items = compile_value(spec["Items"], "Items", ql) if "Items" in spec else NO_VALUE
        self.compile_fields("MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage")
        self.batcher = spec.get("ItemBatcher")
        if self.batcher:
            self._batch_fields = {
                k: compile_value(v, k, ql) for k, v in self.batcher.items() if k != "BatchInput"
            }
        self.item_reader = spec.get("ItemReader")
        self.result_writer = spec.get("ResultWriter")
        self.label = spec.get("Label")

    def attempt(self, fiber: Fiber, raw_input: Any) -> StateGen:
        from stepline.asl.program import ChildSpec, Spawn

        data = raw_input
        if self.query_language != JSONATA and self.input_path is not NO_VALUE:
            data = self._select(self.input_path, raw_input, fiber, "InputPath")
        items = yield from self._items(fiber, raw_input, data)
        max_concurrency = self._int_field(fiber, "MaxConcurrency", raw_input, data, 0)
        tolerated_count, tolerated_pct = self._tolerance(fiber, raw_input, data)
        if self.batcher:
            items = self._batch(fiber, raw_input, data, items)
        inputs = [self._item_input(fiber, raw_input, data, i, v) for i, v in enumerate(items)]
        fiber.emit("MapStateStarted", "mapStateStartedEventDetails", length=len(inputs))
        children = [
            ChildSpec(self.processor, value, i, isolated_variables=self.distributed)
            for i, value in enumerate(inputs)
        ]
        results = yield Spawn(
            "map",
            children,
            max_concurrency=max_concurrency,
            tolerated_count=tolerated_count,
            tolerated_percentage=tolerated_pct,
            state_name=self.name,
        )
        # Aborted iterations (after the threshold was crossed) have no result (None).
        failures = [r[1] for r in results if r is not None and r[0] == "err"]
        tolerance_given = tolerated_count is not None or tolerated_pct is not None
        within = self._within(len(failures), len(results), tolerated_count, tolerated_pct)
        if failures and not within:
            if tolerance_given:
                failure = StatesError(
                    E.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                    "The specified tolerated failure threshold was exceeded",
                    in_state=False,
                )
            else:
                failure = failures[0]
            fiber.emit("MapStateFailed")
            raise failure
        fiber.emit("MapStateSucceeded")
        outputs = [v if s == "ok" else {"Error": v.error, "Cause": v.cause} for s, v in results]
        if self.result_writer:
            outputs = yield from self._write_results(fiber, raw_input, outputs)
        return self.finish(fiber, raw_input, outputs)

    # -- items -----------------------------------------------------------------------------
    def _items(self, fiber: Fiber, raw_input: Any, data: Any):
        if self.item_reader:
            items = yield from self._read_items(fiber, raw_input, data)
            return items
        if self.query_language == JSONATA:
            if self.items is NO_VALUE:
                items = raw_input
                expr = None
            else:
                items = self.eval_field(fiber, self.items, raw_input)
                expr = self.spec["Items"]
            if not isinstance(items, list):
                shown = expr[2:-2].strip() if isinstance(expr, str) else dumps(expr)
                raise StatesError(
                    E.QUERY_EVALUATION_ERROR,
                    f"The JSONata expression '{shown}' specified for the field 'Items' returned "
                    f"an unexpected result type. Expected 'array', but was "
                    f"'{_json_type(items)}' for value: {dumps(items)}",
                )
            return items
        if self.items_path is None:
            items = data
        else:
            try:
                items = self.items_path.get(data, fiber.context, fiber.variables)
            except PathNotFound:
                raise StatesError(
                    E.RUNTIME,
                    f"Invalid path '{self.items_path.expr}' : No results for path: "
                    f"{self.items_path.expr}",
                ) from None
        if not isinstance(items, list):
            raise StatesError(
                E.RUNTIME,
                f"Item path {self.spec.get('ItemsPath', '$')} points to a non-array value: "
                f"{dumps(items)}",
            )
        return items
        yield  # noqa: B901

    def _read_items(self, fiber: Fiber, raw_input: Any, data: Any):
        """ItemReader: ask the task port to read items from the object store."""
        from stepline.asl.program import Invoke

        reader = self.item_reader
        params = reader.get("Parameters") or reader.get("Arguments") or {}
        if self.query_language == JSONATA:
            params = compile_value(params, "ItemReader/Arguments", JSONATA)
            params = self.eval_field(fiber, params, raw_input)
        else:
            params = compile_template(params, "ItemReader/Parameters").render(
                data, fiber.context, fiber.variables
            )
        payload = {
            "ItemReader": {"Parameters": params, "ReaderConfig": reader.get("ReaderConfig", {})}
        }
        status, value = yield Invoke(reader["Resource"], payload, self.name)
        if status == "err":
            raise StatesError(E.ITEM_READER_FAILED, value.cause or value.error, in_state=False)
        if not isinstance(value, list):
            raise StatesError(
                E.ITEM_READER_FAILED, "the item reader did not return a list", in_state=False
            )
        return value

    def _write_results(self, fiber: Fiber, raw_input: Any, outputs: list):
        from stepline.asl.program import Invoke

        writer = self.result_writer
        params = writer.get("Parameters") or writer.get("Arguments") or {}
        payload = {
            "ResultWriter": {
                "Parameters": params,
                "WriterConfig": writer.get("WriterConfig", {}),
                "Results": outputs,
                "MapStateName": self.name,
            }
        }
        status, value = yield Invoke(writer["Resource"], payload, self.name)
        if status == "err":
            raise StatesError(E.RESULT_WRITER_FAILED, value.cause or value.error, in_state=False)
        return value

    def _item_input(self, fiber: Fiber, raw_input: Any, data: Any, index: int, value: Any) -> Any:
        if self.item_selector is None:
            return value
        context = dict(fiber.context)
        context["Map"] = {"Item": {"Index": index, "Value": value}}
        if self.query_language == JSONATA:
            states = {"input": raw_input, "context": context}
            return self.item_selector.render(states, fiber.variables)
        return self.item_selector.render(data, context, fiber.variables)

    def _batch(self, fiber: Fiber, raw_input: Any, data: Any, items: list) -> list:
        fields = {}
        for name in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            if name in self._batch_fields:
                fields[name] = self.eval_field(fiber, self._batch_fields[name], raw_input)
            elif name + "Path" in self.batcher:
                fields[name] = compile_path(self.batcher[name + "Path"]).get(
                    data, fiber.context, fiber.variables
                )
        max_items = int(fields.get("MaxItemsPerBatch") or len(items) or 1)
        max_bytes = int(fields.get("MaxInputBytesPerBatch") or fiber.program.limits.payload_bytes)
        batch_input = self.batcher.get("BatchInput")
        if batch_input is not None and self.query_language != JSONATA:
            batch_input = compile_template(batch_input, "BatchInput").render(
                data, fiber.context, fiber.variables
            )
        batches: list[list] = []
        current: list = []
        size = 0
        for item in items:
            item_size = json_size(item)
            if current and (len(current) >= max_items or size + item_size > max_bytes):
                batches.append(current)
                current, size = [], 0
            current.append(item)
            size += item_size
        if current:
            batches.append(current)
        out = []
        for batch in batches:
            entry = {"Items": batch}
            if batch_input is not None:
                entry["BatchInput"] = batch_input
            out.append(entry)
        return out

    # -- limits ----------------------------------------------------------------------------
    def _int_field(self, fiber: Fiber, name: str, raw_input: Any, data: Any, default: int) -> int:
        value = self.field_value(fiber, name, raw_input, data)
        if value is NO_VALUE:
            return default
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                pass
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not value.is_integer())
        ):
            raise StatesError(
                E.RUNTIME,
                f'The {name}Path field refers to value "{_plain(value)}" which is not a valid '
                f"integer: {self.spec.get(name + 'Path')}",
            )
        if value < 0:
            raise StatesError(E.RUNTIME, f"{name} cannot be negative.")
        return int(value)

    def _tolerance(self, fiber: Fiber, raw_input: Any, data: Any) -> tuple[Any, Any]:
        count = pct = None
        if "ToleratedFailureCount" in self._fields or "ToleratedFailureCountPath" in self._fields:
            count = self._int_field(fiber, "ToleratedFailureCount", raw_input, data, 0)
        if (
            "ToleratedFailurePercentage" in self._fields
            or "ToleratedFailurePercentagePath" in self._fields
        ):
            value = self.field_value(fiber, "ToleratedFailurePercentage", raw_input, data)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise StatesError(
                    E.RUNTIME,
                    f"The ToleratedFailurePercentagePath field refers to value "
                    f'"{_plain(value)}" which is not a valid number: '
                    f"{self.spec.get('ToleratedFailurePercentagePath')}",
                )
            if value < 0 or value > 100:
                raise StatesError(
                    E.RUNTIME, "ToleratedFailurePercentage must be between 0 and 100."
                )
            pct = float(value)
        return count, pct

    @staticmethod
    def _within(failures: int, total: int, count: Any, pct: Any) -> bool:
        if count is None and pct is None:
            return failures == 0
        if count is not None and failures <= count:
            return True
        return pct is not None and total > 0 and failures * 100.0 / total <= pct


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)
