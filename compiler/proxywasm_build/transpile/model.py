"""Reading a Python filter with `ast` (never importing it): its contexts, callbacks, fields and configuration."""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxywasm_build.errors import UserError


class Untranslatable(Exception):
    """A construct outside the translatable subset; the enclosing body becomes a TODO."""


@dataclass
class Callback:
    """One overridable callback: its Python name, parameters, result kind and the Rust trait."""

    name: str
    params: tuple[str, ...]
    returns: str  # "action", "bool", "none"
    rust_trait: str  # "Context", "RootContext", "HttpContext"


HTTP_CALLBACKS = {c.name: c for c in (
    Callback("on_http_request_headers", ("num_headers", "end_of_stream"), "action", "HttpContext"),
    Callback("on_http_request_body", ("body_size", "end_of_stream"), "action", "HttpContext"),
    Callback("on_http_request_trailers", ("num_trailers",), "action", "HttpContext"),
    Callback("on_http_response_headers", ("num_headers", "end_of_stream"), "action", "HttpContext"),
    Callback("on_http_response_body", ("body_size", "end_of_stream"), "action", "HttpContext"),
    Callback("on_http_response_trailers", ("num_trailers",), "action", "HttpContext"),
    Callback("on_log", (), "none", "HttpContext"),
    Callback("on_done", (), "bool", "Context"),
    Callback("on_http_call_response", ("token_id", "num_headers", "body_size", "num_trailers"), "none", "Context"),
)}
ROOT_CALLBACKS = {c.name: c for c in (
    Callback("on_vm_start", ("vm_configuration_size",), "bool", "RootContext"),
    Callback("on_configure", ("plugin_configuration_size",), "bool", "RootContext"),
    Callback("on_tick", (), "none", "RootContext"),
    Callback("on_log", (), "none", "RootContext"),
    Callback("on_done", (), "bool", "Context"),
    Callback("on_http_call_response", ("token_id", "num_headers", "body_size", "num_trailers"), "none", "Context"),
)}
BOOL_PARAMS = {"end_of_stream"}
HEADER_CALL = re.compile(r"^(get|set|add|remove)_http_(request|response|call_response)_(header|trailer)$")


@dataclass
class Field:
    name: str
    type: str  # "str", "optstr", "int", "float", "bool", "counter", "gauge", "histogram"
    default: Any = None
    config_key: str | None = None


@dataclass
class Method:
    callback: Callback
    param_names: tuple[str, ...]
    source: str
    node: ast.FunctionDef
    body: list[str] | None = None  # translated lines, None when kept as a TODO
    reason: str = ""


@dataclass
class ContextClass:
    name: str
    kind: str  # "root" | "http"
    fields: dict[str, Field] = field(default_factory=dict)
    methods: list[Method] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # Python source kept as TODO comments


@dataclass
class FilterModel:
    source_path: Path
    root: ContextClass
    http: ContextClass | None
    root_id: str
    config_fields: list[Field]
    leftovers: list[str]
    header_names: list[str]
    touched_headers: list[str] = field(default_factory=list)
    header_values: list[tuple[str, str]] = field(default_factory=list)
    #: a network (TCP) filter: its root makes StreamContexts, and no HttpContext exists
    tcp: bool = False


def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    raise Untranslatable("not a literal")


def literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    raise Untranslatable("unsupported literal")


def read_filter(source_path: Path) -> FilterModel:
    """Read a Python filter's structure: contexts, callbacks, fields, configuration, root id."""
    source_path = Path(source_path)
    if not source_path.is_file():
        raise UserError(f"{source_path} is not a Python filter file.")
    text = source_path.read_text()
    try:
        tree = ast.parse(text, filename=str(source_path))
    except SyntaxError as err:
        raise UserError(f"{source_path} is not valid Python: {err.msg} (line {err.lineno}).") from err

    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    root_name = http_name = None
    root_id = ""
    leftovers: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and call_name(node.value) == "set_root_context":
            call = node.value
            if call.args and isinstance(call.args[0], ast.Name):
                root_name = call.args[0].id
            for keyword in call.keywords:
                if keyword.arg == "root_id" and isinstance(keyword.value, ast.Constant):
                    root_id = str(keyword.value.value)
        elif isinstance(node, ast.Expr) and call_name(node.value) == "set_http_context":
            call = node.value
            if call.args and isinstance(call.args[0], ast.Name):
                http_name = call.args[0].id
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "ROOT_ID" \
                and isinstance(node.value, ast.Constant):
            root_id = str(node.value.value)
    if root_name is None:
        roots = [n for n, c in classes.items() if "RootContext" in _base_names(c)]
        root_name = roots[0] if roots else None
    if root_name is not None and root_name not in classes:
        raise UserError(f"{source_path} registers {root_name} as its root context but does not define it.")
    if root_name is None and http_name is None:
        raise UserError(f"{source_path} has no RootContext or HttpContext subclass to translate.")

    root_node = classes.get(root_name) if root_name else None
    if root_node is not None and http_name is None:
        http_name = _http_class_created_by(root_node, classes)
    http_node = classes.get(http_name) if http_name else None

    for name, node in classes.items():
        if node is not root_node and node is not http_node:
            leftovers.append(ast.get_source_segment(text, node) or f"class {name}: ...")
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            leftovers.append(ast.get_source_segment(text, node) or "")

    root = _read_class(text, root_node, "root", root_name or "Root")
    http = _read_class(text, http_node, "http", http_name) if http_node is not None else None
    config_fields = [f for f in root.fields.values() if f.config_key is not None]
    header_names = sorted({
        node.args[0].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("get_http_request_header", "get_http_request_header_bytes")
        and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
    })
    return FilterModel(source_path, root, http, root_id, config_fields, leftovers, header_names,
                       _touched_headers(tree), _compared_header_values(tree),
                       tcp=http is None and _makes_stream_contexts(tree, classes))


def _makes_stream_contexts(tree: ast.Module, classes: dict[str, ast.ClassDef]) -> bool:
    """A StreamContext subclass, a `set_stream_context(...)` call or a `create_stream_context`."""
    if any("StreamContext" in _base_names(node) for node in classes.values()):
        return True
    return any((isinstance(node, ast.Call) and call_name(node) == "set_stream_context")
               or (isinstance(node, ast.FunctionDef) and node.name == "create_stream_context")
               for node in ast.walk(tree))


def _request_header_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "get_http_request_header" and len(node.args) == 1 \
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def _compared_header_values(tree: ast.Module) -> list[tuple[str, str]]:
    """(header, value) pairs the filter compares request headers with, for parity requests."""
    pairs: set[tuple[str, str]] = set()
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        aliases = {
            node.targets[0].id: _request_header_name(node.value)
            for node in ast.walk(function)
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and _request_header_name(node.value) is not None
        }
        for node in ast.walk(function):
            if not isinstance(node, ast.Compare) or len(node.ops) != 1:
                continue
            left = node.left
            name = aliases.get(left.id) if isinstance(left, ast.Name) else _request_header_name(left)
            if name is None or name.startswith(":"):
                continue
            right = node.comparators[0]
            options = right.elts if isinstance(right, (ast.Tuple, ast.List, ast.Set)) else [right]
            for option in options:
                if isinstance(option, ast.Constant) and isinstance(option.value, str):
                    pairs.add((name, option.value))
    return sorted(pairs)


def _touched_headers(tree: ast.Module) -> list[str]:
    """Header names the filter writes as literals: set/add/remove calls and local-reply headers."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if HEADER_CALL.match(node.func.attr) and not node.func.attr.startswith("get_") \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.add(node.args[0].value.lower())
        if node.func.attr == "send_http_response":
            for element in ast.walk(node):
                if isinstance(element, ast.Tuple) and len(element.elts) == 2 \
                        and isinstance(element.elts[0], ast.Constant) and isinstance(element.elts[0].value, str):
                    names.add(element.elts[0].value.lower())
    return sorted(names)


def _http_class_created_by(root: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> str | None:
    for item in root.body:
        if isinstance(item, ast.FunctionDef) and item.name == "create_http_context":
            for node in ast.walk(item):
                if isinstance(node, ast.Return) and isinstance(node.value, ast.Call) \
                        and isinstance(node.value.func, ast.Name) and node.value.func.id in classes:
                    return node.value.func.id
    return None


#: Names the generated sources already use; a Python class called so gets a suffix.
TAKEN_TYPE_NAMES = {
    "Context", "RootContext", "HttpContext", "StreamContext", "Action", "Status", "LogLevel", "MetricType",
    "MapType", "BufferType", "StreamType", "PeerType", "ContextType", "Rc", "RefCell", "JsonObject",
    "JsonValue", "Header", "Counter", "Gauge", "Histogram", "Bytes", "String", "Vec", "Option", "Box",
    "Some", "None", "Map", "Array", "ArrayBuffer", "Self", "ROOT_ID",
}


def _read_class(text: str, node: ast.ClassDef | None, kind: str, name: str) -> ContextClass:
    if name in TAKEN_TYPE_NAMES or name.endswith("State") and kind == "http":
        name += "Filter"
    context = ContextClass(name, kind)
    if node is None:
        return context
    callbacks = ROOT_CALLBACKS if kind == "root" else HTTP_CALLBACKS
    for item in node.body:
        if isinstance(item, ast.FunctionDef):
            source = _source_lines(text, item)
            if item.name in callbacks:
                params = tuple(arg.arg for arg in item.args.args[1:])
                context.methods.append(Method(callbacks[item.name], params, source, item))
            elif item.name == "__init__":
                _read_init_fields(item, context, source)
            elif item.name in ("create_http_context",):
                continue
            else:
                context.leftovers.append(source)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            _read_class_attribute(item, context, text)
        elif not (isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant)):
            context.leftovers.append(ast.get_source_segment(text, item) or "")
    # Fields first assigned in callbacks (configuration, metrics, state).
    for method in context.methods:
        _collect_assigned_fields(method.node, context)
    return context


def _source_lines(text: str, node: ast.AST) -> str:
    """The node's source lines, dedented (decorators included)."""
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    lines = text.splitlines()[start - 1:node.end_lineno]
    return textwrap.dedent("\n".join(lines))


def _read_class_attribute(item: ast.AST, context: ContextClass, text: str) -> None:
    target = item.targets[0] if isinstance(item, ast.Assign) else item.target
    try:
        value = _literal(item.value) if item.value is not None else None
        if isinstance(target, ast.Name) and value is not None:
            context.fields[target.id] = Field(target.id, literal_type(value), value)
            return
    except Untranslatable:
        pass
    context.leftovers.append(ast.get_source_segment(text, item) or "")


def _read_init_fields(item: ast.FunctionDef, context: ContextClass, source: str) -> None:
    kept = False
    for statement in item.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                and self_attribute(statement.targets[0]) is not None:
            name = self_attribute(statement.targets[0])
            try:
                value = _literal(statement.value)
                context.fields[name] = Field(name, literal_type(value), value)
                continue
            except Untranslatable:
                pass
            if isinstance(statement.value, ast.Constant) and statement.value.value is None:
                context.fields[name] = Field(name, "optstr", None)
                continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) \
                and "__init__" in ast.dump(statement.value.func):
            continue  # super().__init__(...)
        kept = True
    if kept:
        context.leftovers.append(source)


def self_attribute(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _collect_assigned_fields(function: ast.FunctionDef, context: ContextClass) -> None:
    config_names = {
        target.id
        for node in ast.walk(function) if isinstance(node, ast.Assign) and is_config_load(node.value)
        for target in node.targets if isinstance(target, ast.Name)
    }
    for node in ast.walk(function):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        name = self_attribute(node.targets[0])
        if name is None:
            continue
        value = node.value
        if name in context.fields:
            existing, lookup = context.fields[name], config_lookup(value, config_names)
            if lookup is not None and existing.config_key is None and literal_type(lookup[1]) == existing.type:
                existing.config_key = lookup[0]
                if isinstance(value, ast.Call):  # config.get(key, default): the default wins
                    existing.default = lookup[1]
            continue
        metric = call_name(value)
        if metric in ("Counter", "Gauge", "Histogram"):
            context.fields[name] = Field(name, metric.lower())
        elif config_lookup(value, config_names) is not None:
            key, default = config_lookup(value, config_names)
            context.fields[name] = Field(name, literal_type(default), default, key)
        elif isinstance(value, ast.Constant) and value.value is not None:
            try:
                context.fields[name] = Field(name, literal_type(value.value), value.value)
            except Untranslatable:
                pass
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                and value.func.attr.startswith("get_http_") and value.func.attr.endswith("_header"):
            context.fields[name] = Field(name, "optstr", None)


def is_config_load(node: ast.AST) -> bool:
    return call_name(node) == "loads" and "get_plugin_configuration" in ast.dump(node)


def config_lookup(node: ast.AST, config_names: set[str]) -> tuple[str, Any] | None:
    """`config.get("key", default)` or `config["key"]` -> (key, default)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
            and isinstance(node.func.value, ast.Name) and node.func.value.id in config_names \
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        default = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else ""
        if default is None:
            default = ""
        try:
            literal_type(default)
        except Untranslatable:
            return None
        return node.args[0].value, default
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in config_names \
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value, ""
    return None
