"""`proxywasm skeleton`: turn a Python filter into a Rust or AssemblyScript project.

The Python source is read with `ast` (never imported). The generated project has the same root
and HTTP contexts, the same overridden callbacks, the same plugin-configuration fields (with
their defaults) and the same root id. Callback bodies are translated when every statement in
them is in the translatable subset:

- `return Action.CONTINUE | Action.PAUSE`, `return True | False`, `if/elif/else`, `pass`;
- request/response header and trailer get/set/add/remove, `send_http_response`,
  `resume_http_request/response`;
- comparisons (`==`, `!=`, `is None`, `is not None`, `in (...)`, `<`, `>`, ...), `and/or/not`,
  `str.lower/upper/strip/startswith/endswith`, f-strings;
- `config = json.loads(self.get_plugin_configuration() ...)` and `config.get("key", default)`;
- `proxywasm.log_*` / `logging` calls, `Counter/Gauge/Histogram` definitions and updates;
- fields on `self` and `self.root`, locals assigned at the top level of the callback.

Any other body is kept whole as a comment with a TODO, and the callback returns the neutral
value (CONTINUE / true), so the project always builds unchanged.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxywasm_build.languages import bindings as lang_builds
from proxywasm_build import scaffold
from proxywasm_build.errors import UserError

SKELETON_LANGUAGES = ("rust", "assemblyscript")


class Untranslatable(Exception):
    """A construct outside the translatable subset; the enclosing body becomes a TODO."""


# ---------------------------------------------------------------------------
# The filter model read from Python


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


def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def _call_name(node: ast.AST) -> str | None:
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


def _literal_type(value: Any) -> str:
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
        if isinstance(node, ast.Expr) and _call_name(node.value) == "set_root_context":
            call = node.value
            if call.args and isinstance(call.args[0], ast.Name):
                root_name = call.args[0].id
            for keyword in call.keywords:
                if keyword.arg == "root_id" and isinstance(keyword.value, ast.Constant):
                    root_id = str(keyword.value.value)
        elif isinstance(node, ast.Expr) and _call_name(node.value) == "set_http_context":
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
                       _touched_headers(tree), _compared_header_values(tree))


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
        if _HEADER_CALL.match(node.func.attr) and not node.func.attr.startswith("get_") \
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
            context.fields[target.id] = Field(target.id, _literal_type(value), value)
            return
    except Untranslatable:
        pass
    context.leftovers.append(ast.get_source_segment(text, item) or "")


def _read_init_fields(item: ast.FunctionDef, context: ContextClass, source: str) -> None:
    kept = False
    for statement in item.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                and _self_attribute(statement.targets[0]) is not None:
            name = _self_attribute(statement.targets[0])
            try:
                value = _literal(statement.value)
                context.fields[name] = Field(name, _literal_type(value), value)
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


def _self_attribute(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _collect_assigned_fields(function: ast.FunctionDef, context: ContextClass) -> None:
    config_names = {
        target.id
        for node in ast.walk(function) if isinstance(node, ast.Assign) and _is_config_load(node.value)
        for target in node.targets if isinstance(target, ast.Name)
    }
    for node in ast.walk(function):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        name = _self_attribute(node.targets[0])
        if name is None:
            continue
        value = node.value
        if name in context.fields:
            existing, lookup = context.fields[name], _config_lookup(value, config_names)
            if lookup is not None and existing.config_key is None and _literal_type(lookup[1]) == existing.type:
                existing.config_key = lookup[0]
                if isinstance(value, ast.Call):  # config.get(key, default): the default wins
                    existing.default = lookup[1]
            continue
        metric = _call_name(value)
        if metric in ("Counter", "Gauge", "Histogram"):
            context.fields[name] = Field(name, metric.lower())
        elif _config_lookup(value, config_names) is not None:
            key, default = _config_lookup(value, config_names)
            context.fields[name] = Field(name, _literal_type(default), default, key)
        elif isinstance(value, ast.Constant) and value.value is not None:
            try:
                context.fields[name] = Field(name, _literal_type(value.value), value.value)
            except Untranslatable:
                pass
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                and value.func.attr.startswith("get_http_") and value.func.attr.endswith("_header"):
            context.fields[name] = Field(name, "optstr", None)


def _is_config_load(node: ast.AST) -> bool:
    return _call_name(node) == "loads" and "get_plugin_configuration" in ast.dump(node)


def _config_lookup(node: ast.AST, config_names: set[str]) -> tuple[str, Any] | None:
    """`config.get("key", default)` or `config["key"]` -> (key, default)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
            and isinstance(node.func.value, ast.Name) and node.func.value.id in config_names \
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        default = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else ""
        if default is None:
            default = ""
        try:
            _literal_type(default)
        except Untranslatable:
            return None
        return node.args[0].value, default
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in config_names \
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value, ""
    return None


# ---------------------------------------------------------------------------
# Translating callback bodies

HEADER_MAPS = {
    "request_header": "HttpRequestHeader", "response_header": "HttpResponseHeader",
    "request_trailer": "HttpRequestTrailer", "response_trailer": "HttpResponseTrailer",
}
LOG_LEVELS = {
    "trace": "Trace", "debug": "Debug", "info": "Info", "warn": "Warn", "warning": "Warn",
    "error": "Error", "exception": "Error", "critical": "Critical",
}
_HEADER_CALL = re.compile(r"^(get|set|add|remove)_http_(request|response|call_response)_(header|trailer)$")


@dataclass
class Expr:
    code: str
    type: str  # "str", "optstr", "int", "float", "bool", "bytes", "none", "json", "action"


class Translator:
    """Shared walk over a callback's statements; subclasses render Rust or AssemblyScript."""

    indent_unit = "    "

    def __init__(self, context: ContextClass, root: ContextClass, method: Method, loggers: set[str]) -> None:
        self.context = context
        self.root = root
        self.method = method
        self.loggers = loggers
        self.params = {name: ("bool" if canonical in BOOL_PARAMS else "int")
                       for name, canonical in zip(method.param_names, method.callback.params)}
        self.locals: dict[str, str] = {}
        self.root_aliases: set[str] = set()
        self.used_params: set[str] = set()

    # -- statements ---------------------------------------------------------------------------

    def translate(self) -> list[str]:
        lines = self.block(self.method.node.body, depth=0)
        body = self.method.node.body
        if not body or not isinstance(body[-1], ast.Return):
            default = self.default_return()
            if default:
                lines.append(default)
        return lines

    def block(self, statements: list[ast.stmt], depth: int) -> list[str]:
        lines: list[str] = []
        for statement in statements:
            try:
                lines += self.statement(statement, depth)
            except Untranslatable as err:
                if str(err).startswith("line "):
                    raise
                first_line = ast.unparse(statement).splitlines()[0]
                raise Untranslatable(f"line {statement.lineno}: `{first_line}`: {err}") from None
        return lines

    def statement(self, node: ast.stmt, depth: int) -> list[str]:
        if isinstance(node, ast.Pass):
            return []
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return []  # docstring
        if isinstance(node, ast.Return):
            return self.return_statement(node.value).split("\n")
        if isinstance(node, ast.If):
            return self.if_statement(node, depth)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            return self.call_statement(node.value)
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) != 1 or node.value is None:
                raise Untranslatable("assignment")
            return self.assignment(targets[0], node.value, depth)
        if isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub)):
            return self.augmented_assignment(node)
        raise Untranslatable(f"{type(node).__name__.lower()} statements are not translated")

    def return_statement(self, value: ast.expr | None) -> str:
        kind = self.method.callback.returns
        if kind == "none":
            if value is not None and not (isinstance(value, ast.Constant) and value.value is None):
                raise Untranslatable("value returned from a void callback")
            return self.render_return(None)
        if kind == "action":
            if value is None or (isinstance(value, ast.Constant) and value.value is None):
                return self.render_return(self.action("CONTINUE"))
            if isinstance(value, ast.Attribute) and value.attr in ("CONTINUE", "PAUSE"):
                return self.render_return(self.action(value.attr))
            if isinstance(value, ast.IfExp) and all(
                    isinstance(branch, ast.Attribute) and branch.attr in ("CONTINUE", "PAUSE")
                    for branch in (value.body, value.orelse)):
                condition = self.truthy(self.expression(value.test))
                return "\n".join([self.render_if(condition),
                                   self.indent_unit + self.render_return(self.action(value.body.attr)),
                                   self.render_else(),
                                   self.indent_unit + self.render_return(self.action(value.orelse.attr)),
                                   "}"])
            raise Untranslatable("returned action")
        expression = self.expression(value) if value is not None else Expr(self.bool_literal(True), "bool")
        return self.render_return(self.truthy(expression))

    def default_return(self) -> str | None:
        kind = self.method.callback.returns
        if kind == "action":
            return self.render_return(self.action("CONTINUE"))
        if kind == "bool":
            return self.render_return(self.bool_literal(True))
        return None

    def if_statement(self, node: ast.If, depth: int) -> list[str]:
        lines = [self.render_if(self.truthy(self.expression(node.test)))]
        lines += [self.indent_unit + line for line in self.block(node.body, depth + 1)]
        orelse = node.orelse
        while orelse:
            if len(orelse) == 1 and isinstance(orelse[0], ast.If):
                branch = orelse[0]
                lines.append(self.render_else_if(self.truthy(self.expression(branch.test))))
                lines += [self.indent_unit + line for line in self.block(branch.body, depth + 1)]
                orelse = branch.orelse
            else:
                lines.append(self.render_else())
                lines += [self.indent_unit + line for line in self.block(orelse, depth + 1)]
                orelse = []
        lines.append("}")
        return lines

    def call_statement(self, call: ast.Call) -> list[str]:
        func = call.func
        if isinstance(func, ast.Attribute) and _self_attribute(func) is not None:
            header = _HEADER_CALL.match(func.attr)
            if header and header.group(1) != "get" and header.group(2) != "call_response":
                return [self.header_update(header.group(1), f"{header.group(2)}_{header.group(3)}", call)]
            if func.attr == "send_http_response":
                return [self.send_http_response(call)]
            if func.attr in ("resume_http_request", "resume_http_response"):
                return [self.render_resume(func.attr)]
        if isinstance(func, ast.Attribute) and func.attr in ("increment", "record", "set"):
            metric = self.field_reference(func.value)
            if metric is not None and metric[1].type in ("counter", "gauge", "histogram"):
                return self.metric_update(metric, func.attr, call)
        level = self.log_level(func)
        if level is not None:
            if len(call.args) < 1 or call.keywords:
                raise Untranslatable("log call")
            message = call.args[-1]
            if _call_name(call) == "log" and len(call.args) == 2:
                attribute = call.args[0]
                if not isinstance(attribute, ast.Attribute) or attribute.attr.lower() not in LOG_LEVELS:
                    raise Untranslatable("log level")
                level = LOG_LEVELS[attribute.attr.lower()]
            elif len(call.args) != 1:
                raise Untranslatable("log call with format arguments")
            return [self.render_log(level, self.as_str(self.expression(message)))]
        raise Untranslatable("this call is not in the translatable subset")

    def log_level(self, func: ast.expr) -> str | None:
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, attr = func.value.id, func.attr
            if owner == "proxywasm" and attr.startswith("log_") and attr[4:] in LOG_LEVELS:
                return LOG_LEVELS[attr[4:]]
            if owner == "proxywasm" and attr == "log":
                return "Info"
            if (owner == "logging" or owner in self.loggers) and attr in LOG_LEVELS:
                return LOG_LEVELS[attr]
        if isinstance(func, ast.Name) and func.id.startswith("log_") and func.id[4:] in LOG_LEVELS:
            return LOG_LEVELS[func.id[4:]]
        return None

    def header_update(self, operation: str, which: str, call: ast.Call) -> str:
        if call.keywords:
            raise Untranslatable("keyword arguments")
        if operation == "remove":
            if len(call.args) != 1:
                raise Untranslatable("arguments")
            return self.render_header_remove(which, self.as_str(self.expression(call.args[0])))
        if len(call.args) != 2:
            raise Untranslatable("arguments")
        name = self.as_str(self.expression(call.args[0]))
        value = self.expression(call.args[1])
        if operation == "set" and value.type == "none":
            return self.render_header_remove(which, name)
        if operation == "set" and value.type == "optstr":
            return self.render_header_set_optional(which, name, value.code)
        return self.render_header_write(operation, which, name, self.as_str(value))

    def send_http_response(self, call: ast.Call) -> str:
        arguments: dict[str, ast.expr] = dict(zip(("status_code", "headers", "body"), call.args))
        for keyword in call.keywords:
            if keyword.arg not in ("status_code", "headers", "body"):
                raise Untranslatable("send_http_response argument")
            arguments[keyword.arg] = keyword.value
        status = self.expression(arguments["status_code"])
        if status.type != "int":
            raise Untranslatable("status code")
        pairs: list[tuple[str, str]] = []
        headers = arguments.get("headers")
        if isinstance(headers, ast.Dict):
            items = list(zip(headers.keys, headers.values))
        elif isinstance(headers, (ast.List, ast.Tuple)):
            items = []
            for element in headers.elts:
                if not isinstance(element, (ast.Tuple, ast.List)) or len(element.elts) != 2:
                    raise Untranslatable("header pair")
                items.append((element.elts[0], element.elts[1]))
        elif headers is None or (isinstance(headers, ast.Constant) and headers.value is None):
            items = []
        else:
            raise Untranslatable("headers")
        for key, value in items:
            if key is None:
                raise Untranslatable("header pair")
            pairs.append((self.as_str(self.expression(key)), self.as_str(self.expression(value))))
        body = arguments.get("body")
        body_code = None
        if body is not None and not (isinstance(body, ast.Constant) and body.value is None):
            body_code = self.body_bytes(body)
        return self.render_send_http_response(status.code, pairs, body_code)

    def metric_update(self, metric: tuple[str, Field], operation: str, call: ast.Call) -> list[str]:
        if call.keywords or len(call.args) > 1:
            raise Untranslatable("metric call")
        amount = self.expression(call.args[0]) if call.args else Expr("1", "int")
        if amount.type != "int":
            raise Untranslatable("metric value")
        return self.render_metric_update(metric, operation, amount.code)

    def assignment(self, target: ast.expr, value: ast.expr, depth: int) -> list[str]:
        reference = self.field_reference(target)
        if reference is not None:
            owner, spec = reference
            if spec.type in ("counter", "gauge", "histogram"):
                if _call_name(value) not in ("Counter", "Gauge", "Histogram") or not value.args:
                    raise Untranslatable("metric definition")
                name = self.as_str(self.expression(value.args[0]))
                return self.render_metric_define(owner, spec, name)
            expression = self.expression(value)
            if spec.config_key is not None and expression.type == spec.type:
                pass
            elif not self.compatible(spec.type, expression.type):
                raise Untranslatable(f"field {spec.name} of type {spec.type} gets a {expression.type}")
            return self.render_field_assign(owner, spec, expression)
        if isinstance(target, ast.Name):
            if self.context.kind == "http" and _self_attribute(value) == "root" and depth == 0 \
                    and target.id not in self.locals:
                self.root_aliases.add(target.id)
                return []
            if _is_config_load(value):
                if self.method.callback.returns != "bool" or self.context.kind != "root":
                    raise Untranslatable("configuration outside on_configure")
                self.locals[target.id] = "json"
                return self.render_config_load(target.id)
            expression = self.expression(value)
            if expression.type in ("none", "json", "action", "bytes"):
                raise Untranslatable("local type")
            if target.id in self.locals:
                if not self.compatible(self.locals[target.id], expression.type):
                    raise Untranslatable("local changes type")
                return [self.render_local_assign(target.id, self.locals[target.id], expression)]
            if depth > 0 or target.id in self.params:
                raise Untranslatable("local first assigned in a nested block")
            self.locals[target.id] = expression.type
            return [self.render_local_declare(target.id, expression)]
        raise Untranslatable("assignment target")

    def augmented_assignment(self, node: ast.AugAssign) -> list[str]:
        operator = "+=" if isinstance(node.op, ast.Add) else "-="
        value = self.expression(node.value)
        reference = self.field_reference(node.target)
        if reference is not None and reference[1].type == "int" and value.type == "int":
            return self.render_field_augment(reference, operator, value.code)
        if isinstance(node.target, ast.Name) and self.locals.get(node.target.id) == "int" and value.type == "int":
            return [f"{node.target.id} {operator} {value.code};"]
        raise Untranslatable("augmented assignment")

    @staticmethod
    def compatible(wanted: str, given: str) -> bool:
        return wanted == given or (wanted == "optstr" and given in ("str", "none")) \
            or (wanted == "float" and given == "int")

    # -- expressions --------------------------------------------------------------------------

    def field_reference(self, node: ast.expr) -> tuple[str, Field] | None:
        """`self.x` -> ("self", field); `self.root.x` in an HTTP context -> ("root", field)."""
        name = _self_attribute(node)
        if name is not None:
            if name in self.context.fields:
                return ("root" if self.context.kind == "root" else "self", self.context.fields[name])
            return None
        if isinstance(node, ast.Attribute) and self.context.kind == "http" and node.attr in self.root.fields \
                and (_self_attribute(node.value) == "root"
                     or isinstance(node.value, ast.Name) and node.value.id in self.root_aliases):
            return ("root", self.root.fields[node.attr])
        return None

    def expression(self, node: ast.expr) -> Expr:
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None:
                return Expr(self.none_literal(), "none")
            if isinstance(value, bool):
                return Expr(self.bool_literal(value), "bool")
            if isinstance(value, int):
                return Expr(str(value), "int")
            if isinstance(value, float):
                return Expr(repr(value), "float")
            if isinstance(value, str):
                return Expr(self.string_literal(value), "str")
            if isinstance(value, bytes):
                return Expr(self.bytes_literal(value), "bytes")
            raise Untranslatable("constant")
        if isinstance(node, ast.Name):
            if node.id in self.params:
                self.used_params.add(node.id)
                return self.render_param(node.id, self.params[node.id])
            if node.id in self.locals:
                return self.render_local(node.id, self.locals[node.id])
            raise Untranslatable(f"name {node.id}")
        reference = self.field_reference(node)
        if reference is not None:
            if reference[1].type in ("counter", "gauge", "histogram"):
                raise Untranslatable("metric used as a value")
            return self.render_field(*reference)
        if _self_attribute(node) == "context_id":
            return self.render_context_id()
        if isinstance(node, ast.Attribute) and node.attr in ("CONTINUE", "PAUSE"):
            return Expr(self.action(node.attr), "action")
        if isinstance(node, ast.Call):
            return self.call_expression(node)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                and self.locals.get(node.value.id) == "json":
            lookup = _config_lookup(node, {node.value.id})
            if lookup is not None:
                return self.render_config_get(node.value.id, *lookup)
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, ast.BoolOp):
            operator = self.and_operator() if isinstance(node.op, ast.And) else self.or_operator()
            parts = [self.truthy(self.expression(value)) for value in node.values]
            return Expr("(" + f" {operator} ".join(parts) + ")", "bool")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Expr(f"!({self.truthy(self.expression(node.operand))})", "bool")
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            left, right = self.expression(node.left), self.expression(node.right)
            if left.type == right.type == "int":
                symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}[type(node.op)]
                return Expr(f"({left.code} {symbol} {right.code})", "int")
            if isinstance(node.op, ast.Add) and left.type in ("str", "optstr") and right.type in ("str", "optstr"):
                return self.concatenate([self.as_str(left), self.as_str(right)])
            raise Untranslatable("arithmetic")
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(self.string_literal(str(value.value)))
                elif isinstance(value, ast.FormattedValue) and value.format_spec is None and value.conversion == -1:
                    parts.append(self.to_text(self.expression(value.value)))
                else:
                    raise Untranslatable("f-string format")
            return self.concatenate(parts)
        raise Untranslatable(type(node).__name__)

    def call_expression(self, node: ast.Call) -> Expr:
        func = node.func
        if isinstance(func, ast.Attribute) and _self_attribute(func) is not None:
            header = _HEADER_CALL.match(func.attr)
            if header and header.group(1) == "get" and len(node.args) == 1 and not node.keywords:
                name = self.as_str(self.expression(node.args[0]))
                return self.render_header_get(f"{header.group(2)}_{header.group(3)}", name)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and self.locals.get(func.value.id) == "json":
            lookup = _config_lookup(node, {func.value.id})
            if lookup is not None:
                return self.render_config_get(func.value.id, *lookup)
        if isinstance(func, ast.Name) and func.id == "str" and len(node.args) == 1 and not node.keywords:
            value = self.expression(node.args[0])
            return value if value.type == "str" else self.concatenate([self.to_text(value)])
        if isinstance(func, ast.Attribute) and func.attr in ("lower", "upper", "strip", "startswith", "endswith"):
            subject = self.expression(func.value)
            if subject.type not in ("str", "optstr"):
                raise Untranslatable("string method on a non-string")
            arguments = [self.as_str(self.expression(argument)) for argument in node.args]
            if func.attr in ("startswith", "endswith") and len(arguments) != 1:
                raise Untranslatable("string method arguments")
            if func.attr in ("lower", "upper", "strip") and arguments:
                raise Untranslatable("string method arguments")
            return self.render_string_method(self.as_str(subject), func.attr, arguments)
        raise Untranslatable("this call is not in the translatable subset")

    def comparison(self, node: ast.Compare) -> Expr:
        if len(node.ops) != 1:
            raise Untranslatable("chained comparison")
        operator, right_node = node.ops[0], node.comparators[0]
        left = self.expression(node.left)
        if isinstance(operator, (ast.Is, ast.IsNot)):
            if not (isinstance(right_node, ast.Constant) and right_node.value is None):
                raise Untranslatable("is")
            if left.type != "optstr":
                return Expr(self.bool_literal(isinstance(operator, ast.IsNot)), "bool")
            return Expr(self.render_is_none(left.code, isinstance(operator, ast.Is)), "bool")
        if isinstance(operator, (ast.In, ast.NotIn)):
            if not isinstance(right_node, (ast.Tuple, ast.List, ast.Set)):
                raise Untranslatable("in")
            options = [self.expression(element) for element in right_node.elts]
            tests = [self.equality(left, option, True) for option in options]
            joined = "(" + f" {self.or_operator()} ".join(tests or [self.bool_literal(False)]) + ")"
            return Expr(joined if isinstance(operator, ast.In) else f"!{joined}", "bool")
        right = self.expression(right_node)
        if isinstance(operator, (ast.Eq, ast.NotEq)):
            return Expr(self.equality(left, right, isinstance(operator, ast.Eq)), "bool")
        symbols = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
        if type(operator) in symbols and left.type in ("int", "float") and right.type in ("int", "float"):
            if left.type != right.type:
                left, right = self.as_float(left), self.as_float(right)
            return Expr(f"({left.code} {symbols[type(operator)]} {right.code})", "bool")
        raise Untranslatable("comparison")

    def equality(self, left: Expr, right: Expr, equal: bool) -> str:
        if right.type == "optstr" and left.type != "optstr":
            left, right = right, left
        if left.type == "optstr" and right.type == "none" or left.type == "none" and right.type == "optstr":
            subject = left if left.type == "optstr" else right
            return self.render_is_none(subject.code, equal)
        if left.type == "optstr" and right.type == "str":
            return self.render_optional_equals(left.code, right.code, equal)
        if left.type == "optstr" and right.type == "optstr":
            return self.render_optionals_equal(left.code, right.code, equal)
        if {left.type, right.type} == {"int", "float"}:
            left, right = self.as_float(left), self.as_float(right)
        if left.type == right.type:
            return f"({left.code} {'==' if equal else '!='} {right.code})"
        raise Untranslatable("comparison of different types")

    def as_float(self, expression: Expr) -> Expr:
        if expression.type != "int":
            return expression
        return Expr(self.render_int_to_float(expression.code), "float")

    def as_str(self, expression: Expr) -> str:
        if expression.type == "str":
            return expression.code
        if expression.type == "optstr":
            return self.render_or_empty(expression.code)
        raise Untranslatable(f"{expression.type} where a string is needed")

    def truthy(self, expression: Expr) -> str:
        if expression.type == "bool":
            return expression.code
        if expression.type == "optstr":
            return self.render_optional_non_empty(expression.code)
        if expression.type == "str":
            return self.render_non_empty(expression.code)
        if expression.type == "int":
            return f"({expression.code} != 0)"
        raise Untranslatable("truth value")

    def body_bytes(self, node: ast.expr) -> str:
        expression = self.expression(node)
        if expression.type == "bytes":
            return self.render_bytes_body(node.value)
        return self.render_str_body(self.as_str(expression))


RUST_RESERVED = {"as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
                 "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
                 "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
                 "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final",
                 "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "root",
                 "context_id", "value", "metric", "parsed"}
AS_RESERVED = {"break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do",
               "else", "enum", "export", "extends", "false", "finally", "for", "function", "if", "import",
               "in", "instanceof", "new", "null", "return", "super", "switch", "this", "throw", "true",
               "try", "typeof", "var", "void", "while", "with", "let", "static", "yield", "implements",
               "interface", "package", "private", "protected", "public", "root", "contextId", "metric",
               "string", "i32", "u32", "i64", "u64", "f64", "bool", "log", "header"}


def _rust_string(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7f:
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _rust_bytes(data: bytes) -> str:
    out = []
    for byte in data:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif byte == 0x0A:
            out.append("\\n")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return 'b"' + "".join(out) + '"'


class RustTranslator(Translator):
    @staticmethod
    def name(python_name: str) -> str:
        return python_name + "_" if python_name in RUST_RESERVED else python_name

    def render_int_to_float(self, code: str) -> str:
        return f"({code} as f64)"

    def string_literal(self, text: str) -> str:
        return _rust_string(text)

    def bytes_literal(self, data: bytes) -> str:
        return _rust_bytes(data)

    def bool_literal(self, value: bool) -> str:
        return "true" if value else "false"

    def none_literal(self) -> str:
        return "None"

    def action(self, name: str) -> str:
        return "Action::Continue" if name == "CONTINUE" else "Action::Pause"

    def and_operator(self) -> str:
        return "&&"

    def or_operator(self) -> str:
        return "||"

    def render_return(self, value: str | None) -> str:
        return "return;" if value is None else f"return {value};"

    def render_if(self, condition: str) -> str:
        return f"if {condition} {{"

    def render_else_if(self, condition: str) -> str:
        return f"}} else if {condition} {{"

    def render_else(self) -> str:
        return "} else {"

    def render_param(self, name: str, kind: str) -> Expr:
        name = self.name(name)
        return Expr(name, "bool") if kind == "bool" else Expr(f"({name} as i64)", "int")

    def render_context_id(self) -> Expr:
        return Expr("(self.context_id as i64)", "int")

    def read(self, base: str, kind: str) -> Expr:
        if kind == "str":
            return Expr(f"{base}.as_str()", "str")
        if kind == "optstr":
            return Expr(f"{base}.clone()", "optstr")
        return Expr(base, kind)

    def owned(self, wanted: str, expression: Expr) -> str:
        if wanted == "str":
            return f"{expression.code}.to_string()"
        if wanted == "optstr":
            if expression.type == "str":
                return f"Some({expression.code}.to_string())"
            return expression.code
        if wanted == "float" and expression.type == "int":
            return f"({expression.code} as f64)"
        return expression.code

    def render_local(self, name: str, kind: str) -> Expr:
        return self.read(self.name(name), kind)

    def render_local_declare(self, name: str, expression: Expr) -> str:
        return f"let mut {self.name(name)} = {self.owned(expression.type, expression)};"

    def render_local_assign(self, name: str, kind: str, expression: Expr) -> str:
        return f"{self.name(name)} = {self.owned(kind, expression)};"

    def field_base(self, owner: str, spec: Field, mutable: bool = False) -> str:
        if owner == "root":
            return f"self.root.{'borrow_mut' if mutable else 'borrow'}().{self.name(spec.name)}"
        return f"self.{self.name(spec.name)}"

    def render_field(self, owner: str, spec: Field) -> Expr:
        return self.read(self.field_base(owner, spec), spec.type)

    def render_field_assign(self, owner: str, spec: Field, expression: Expr) -> list[str]:
        value = self.owned(spec.type, expression)
        if owner == "root":
            return [f"{{ let value = {value}; {self.field_base(owner, spec, True)} = value; }}"]
        return [f"{self.field_base(owner, spec)} = {value};"]

    def render_field_augment(self, reference: tuple[str, Field], operator: str, amount: str) -> list[str]:
        owner, spec = reference
        if owner == "root":
            return [f"{{ let value = {amount}; {self.field_base(owner, spec, True)} {operator} value; }}"]
        return [f"{self.field_base(owner, spec)} {operator} {amount};"]

    def render_header_get(self, which: str, name: str) -> Expr:
        return Expr(f"self.get_http_{which}({name})", "optstr")

    def render_header_remove(self, which: str, name: str) -> str:
        return f"self.set_http_{which}({name}, None);"

    def render_header_set_optional(self, which: str, name: str, optional: str) -> str:
        return f"self.set_http_{which}({name}, {optional}.as_deref());"

    def render_header_write(self, operation: str, which: str, name: str, value: str) -> str:
        if operation == "set":
            return f"self.set_http_{which}({name}, Some({value}));"
        return f"self.add_http_{which}({name}, {value});"

    def render_send_http_response(self, status: str, pairs: list[tuple[str, str]], body: str | None) -> str:
        headers = ", ".join(f"({key}, {value})" for key, value in pairs)
        return f"self.send_http_response(({status}) as u32, vec![{headers}], {body or 'None'});"

    def render_bytes_body(self, data: bytes) -> str:
        return f"Some({_rust_bytes(data)})"

    def render_str_body(self, text: str) -> str:
        return f"Some({text}.as_bytes())"

    def render_resume(self, method: str) -> str:
        return f"self.{method}();"

    def render_log(self, level: str, message: str) -> str:
        return f"let _ = hostcalls::log(LogLevel::{level}, {message});"

    def render_metric_define(self, owner: str, spec: Field, name: str) -> list[str]:
        kind = spec.type.capitalize()
        value = Expr(f"hostcalls::define_metric(MetricType::{kind}, {name}).ok()", spec.type)
        if owner == "root":
            return [f"{{ let value = {value.code}; {self.field_base(owner, spec, True)} = value; }}"]
        return [f"{self.field_base(owner, spec)} = {value.code};"]

    def render_metric_update(self, reference: tuple[str, Field], operation: str, amount: str) -> list[str]:
        owner, spec = reference
        call = (f"hostcalls::increment_metric(metric, {amount})" if operation == "increment"
                else f"hostcalls::record_metric(metric, ({amount}) as u64)")
        return [f"if let Some(metric) = {self.field_base(owner, spec)} {{", f"    let _ = {call};", "}"]

    def render_config_load(self, name: str) -> list[str]:
        return [f"let {self.name(name)} = match JsonObject::parse(&self.get_plugin_configuration().unwrap_or_default()) {{",
                "    Some(parsed) => parsed,",
                "    None => return false,",
                "};"]

    def render_config_get(self, name: str, key: str, default: Any) -> Expr:
        config = self.name(name)
        kind = _literal_type(default)
        if kind == "str":
            return Expr(f"{config}.get_string({_rust_string(key)}, {_rust_string(default)}).as_str()", "str")
        if kind == "bool":
            return Expr(f"{config}.get_bool({_rust_string(key)}, {self.bool_literal(default)})", "bool")
        if kind == "int":
            return Expr(f"({config}.get_number({_rust_string(key)}, {float(default)!r}) as i64)", "int")
        return Expr(f"{config}.get_number({_rust_string(key)}, {float(default)!r})", "float")

    def render_string_method(self, subject: str, method: str, arguments: list[str]) -> Expr:
        if method == "lower":
            return Expr(f"{subject}.to_lowercase().as_str()", "str")
        if method == "upper":
            return Expr(f"{subject}.to_uppercase().as_str()", "str")
        if method == "strip":
            return Expr(f"{subject}.trim()", "str")
        rust = "starts_with" if method == "startswith" else "ends_with"
        return Expr(f"{subject}.{rust}({arguments[0]})", "bool")

    def render_is_none(self, code: str, is_none: bool) -> str:
        return f"{code}.{'is_none' if is_none else 'is_some'}()"

    def render_optional_equals(self, optional: str, text: str, equal: bool) -> str:
        return f"({optional}.as_deref() {'==' if equal else '!='} Some({text}))"

    def render_optionals_equal(self, left: str, right: str, equal: bool) -> str:
        return f"({left} {'==' if equal else '!='} {right})"

    def render_or_empty(self, optional: str) -> str:
        return f"{optional}.unwrap_or_default().as_str()"

    def render_optional_non_empty(self, optional: str) -> str:
        return f"{optional}.map_or(false, |text| !text.is_empty())"

    def render_non_empty(self, text: str) -> str:
        return f"!{text}.is_empty()"

    def concatenate(self, parts: list[str]) -> Expr:
        return Expr(f"format!(\"{'{}' * len(parts)}\", {', '.join(parts)}).as_str()", "str")

    def to_text(self, expression: Expr) -> str:
        if expression.type == "bool":
            return f"(if {expression.code} {{ \"True\" }} else {{ \"False\" }})"
        if expression.type in ("int", "float", "str"):
            return expression.code
        if expression.type == "optstr":
            return f"{expression.code}.unwrap_or_else(|| \"None\".to_string())"
        raise Untranslatable("f-string value")


class AssemblyScriptTranslator(Translator):
    indent_unit = "  "

    @staticmethod
    def name(python_name: str) -> str:
        return python_name + "_" if python_name in AS_RESERVED else python_name

    def render_int_to_float(self, code: str) -> str:
        return f"(<f64>{code})"

    def string_literal(self, text: str) -> str:
        return json.dumps(text)

    def bytes_literal(self, data: bytes) -> str:
        return self.string_literal(self._utf8(data))

    @staticmethod
    def _utf8(data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise Untranslatable("bytes that are not UTF-8") from None

    def bool_literal(self, value: bool) -> str:
        return "true" if value else "false"

    def none_literal(self) -> str:
        return "null"

    def action(self, name: str) -> str:
        return "Action.Continue" if name == "CONTINUE" else "Action.Pause"

    def and_operator(self) -> str:
        return "&&"

    def or_operator(self) -> str:
        return "||"

    def render_return(self, value: str | None) -> str:
        return "return;" if value is None else f"return {value};"

    def render_if(self, condition: str) -> str:
        return f"if ({condition}) {{"

    def render_else_if(self, condition: str) -> str:
        return f"}} else if ({condition}) {{"

    def render_else(self) -> str:
        return "} else {"

    def render_param(self, name: str, kind: str) -> Expr:
        return Expr(self.name(name), "bool") if kind == "bool" else Expr(f"(<i64>{self.name(name)})", "int")

    def render_context_id(self) -> Expr:
        return Expr("(<i64>this.contextId)", "int")

    def render_local(self, name: str, kind: str) -> Expr:
        return Expr(self.name(name), kind)

    def render_local_declare(self, name: str, expression: Expr) -> str:
        return f"let {self.name(name)}: {AS_TYPES[expression.type]} = {self.convert(expression.type, expression)};"

    def render_local_assign(self, name: str, kind: str, expression: Expr) -> str:
        return f"{self.name(name)} = {self.convert(kind, expression)};"

    def convert(self, wanted: str, expression: Expr) -> str:
        if wanted == "float" and expression.type == "int":
            return f"(<f64>{expression.code})"
        return expression.code

    def field_base(self, owner: str, spec: Field) -> str:
        if owner == "root" and self.context.kind == "http":
            return f"this.root.{self.name(spec.name)}"
        return f"this.{self.name(spec.name)}"

    def render_field(self, owner: str, spec: Field) -> Expr:
        return Expr(self.field_base(owner, spec), spec.type)

    def render_field_assign(self, owner: str, spec: Field, expression: Expr) -> list[str]:
        return [f"{self.field_base(owner, spec)} = {self.convert(spec.type, expression)};"]

    def render_field_augment(self, reference: tuple[str, Field], operator: str, amount: str) -> list[str]:
        return [f"{self.field_base(*reference)} {operator} {amount};"]

    @staticmethod
    def method_name(snake: str) -> str:
        return lang_builds.camel_case(snake)

    def render_header_get(self, which: str, name: str) -> Expr:
        return Expr(f"this.{self.method_name('get_http_' + which)}({name})", "optstr")

    def render_header_remove(self, which: str, name: str) -> str:
        return f"this.{self.method_name('set_http_' + which)}({name}, null);"

    def render_header_set_optional(self, which: str, name: str, optional: str) -> str:
        return f"this.{self.method_name('set_http_' + which)}({name}, {optional});"

    def render_header_write(self, operation: str, which: str, name: str, value: str) -> str:
        return f"this.{self.method_name(operation + '_http_' + which)}({name}, {value});"

    def render_send_http_response(self, status: str, pairs: list[tuple[str, str]], body: str | None) -> str:
        headers = ", ".join(f"header({key}, {value})" for key, value in pairs)
        return f"this.sendHttpResponse(<u32>({status}), [{headers}], {body or 'null'});"

    def render_bytes_body(self, data: bytes) -> str:
        return f"String.UTF8.encode({self.string_literal(self._utf8(data))})"

    def render_str_body(self, text: str) -> str:
        return f"String.UTF8.encode({text})"

    def render_resume(self, method: str) -> str:
        return f"this.{self.method_name(method)}();"

    def render_log(self, level: str, message: str) -> str:
        return f"log(LogLevel.{level}, {message});"

    def render_metric_define(self, owner: str, spec: Field, name: str) -> list[str]:
        return [f"{self.field_base(owner, spec)} = new {spec.type.capitalize()}({name});"]

    def render_metric_update(self, reference: tuple[str, Field], operation: str, amount: str) -> list[str]:
        owner, spec = reference
        call = (f"metric.increment(<i64>({amount}))" if operation == "increment"
                else f"metric.record(<u64>({amount}))")
        return ["{", f"  const metric = {self.field_base(owner, spec)};", f"  if (metric !== null) {call};", "}"]

    def render_config_load(self, name: str) -> list[str]:
        config = self.name(name)
        return [f"const {config}Parsed = JsonObject.parse(this.getPluginConfiguration());",
                f"if ({config}Parsed === null) return false;",
                f"const {config} = {config}Parsed!;"]

    def render_config_get(self, name: str, key: str, default: Any) -> Expr:
        config = self.name(name)
        kind = _literal_type(default)
        if kind == "str":
            return Expr(f"{config}.getString({json.dumps(key)}, {json.dumps(default)})", "str")
        if kind == "bool":
            return Expr(f"{config}.getBool({json.dumps(key)}, {self.bool_literal(default)})", "bool")
        if kind == "int":
            return Expr(f"(<i64>{config}.getNumber({json.dumps(key)}, {float(default)!r}))", "int")
        return Expr(f"{config}.getNumber({json.dumps(key)}, {float(default)!r})", "float")

    def render_string_method(self, subject: str, method: str, arguments: list[str]) -> Expr:
        if method in ("lower", "upper", "strip"):
            js = {"lower": "toLowerCase", "upper": "toUpperCase", "strip": "trim"}[method]
            return Expr(f"{subject}.{js}()", "str")
        js = "startsWith" if method == "startswith" else "endsWith"
        return Expr(f"{subject}.{js}({arguments[0]})", "bool")

    def render_is_none(self, code: str, is_none: bool) -> str:
        return f"({code} {'===' if is_none else '!=='} null)"

    def render_optional_equals(self, optional: str, text: str, equal: bool) -> str:
        return f"{'' if equal else '!'}equalsOptional({optional}, {text})"

    def render_optionals_equal(self, left: str, right: str, equal: bool) -> str:
        return f"{'' if equal else '!'}optionalsEqual({left}, {right})"

    def render_or_empty(self, optional: str) -> str:
        return f"orEmpty({optional})"

    def render_optional_non_empty(self, optional: str) -> str:
        return f"(orEmpty({optional}).length > 0)"

    def render_non_empty(self, text: str) -> str:
        return f"({text}.length > 0)"

    def concatenate(self, parts: list[str]) -> Expr:
        return Expr("(" + " + ".join(['""'] + parts) + ")", "str")

    def to_text(self, expression: Expr) -> str:
        if expression.type == "str":
            return expression.code
        if expression.type == "optstr":
            return f"orNone({expression.code})"
        if expression.type in ("int", "float"):
            return f"({expression.code}).toString()"
        if expression.type == "bool":
            return f"({expression.code} ? \"True\" : \"False\")"
        raise Untranslatable("f-string value")


AS_TYPES = {"str": "string", "optstr": "string | null", "int": "i64", "float": "f64", "bool": "bool",
            "counter": "Counter | null", "gauge": "Gauge | null", "histogram": "Histogram | null"}
RUST_TYPES = {"str": "String", "optstr": "Option<String>", "int": "i64", "float": "f64", "bool": "bool",
              "counter": "Option<u32>", "gauge": "Option<u32>", "histogram": "Option<u32>"}


# ---------------------------------------------------------------------------
# Rendering the project


def _module_loggers(tree: ast.Module) -> set[str]:
    return {
        target.id for node in tree.body if isinstance(node, ast.Assign)
        and _call_name(node.value) == "getLogger" for target in node.targets if isinstance(target, ast.Name)
    }


def _translate_methods(model: FilterModel, context: ContextClass, translator_class: type,
                       loggers: set[str]) -> list[dict[str, Any]]:
    methods = []
    for method in context.methods:
        translator = translator_class(context, model.root, method, loggers)
        try:
            body = translator.translate()
            method.body, method.reason = body, ""
        except Untranslatable as err:
            translator.used_params.clear()
            method.body, method.reason = None, str(err)
            body = None
        default = translator.default_return()
        methods.append({
            "python_name": method.callback.name,
            "rust_trait": method.callback.rust_trait,
            "params": list(zip(method.param_names, method.callback.params)),
            "used_params": set(translator.used_params),
            "returns": method.callback.returns,
            "body": body,
            "reason": method.reason,
            "python_source": method.source.splitlines(),
            "default_return": default,
        })
    return methods


def _rust_signature(method: dict[str, Any]) -> str:
    types = {"token_id": "u32", "end_of_stream": "bool"}
    params = []
    for python_name, canonical in method["params"]:
        name = python_name if python_name in method["used_params"] else "_" + python_name.lstrip("_")
        params.append(f"{RustTranslator.name(name)}: {types.get(canonical, 'usize')}")
    result = {"action": " -> Action", "bool": " -> bool", "none": ""}[method["returns"]]
    return f"fn {method['python_name']}(&mut self{''.join(', ' + p for p in params)}){result}"


_AS_METHODS = {
    "on_http_request_headers": "onHttpRequestHeaders", "on_http_request_body": "onHttpRequestBody",
    "on_http_request_trailers": "onHttpRequestTrailers", "on_http_response_headers": "onHttpResponseHeaders",
    "on_http_response_body": "onHttpResponseBody", "on_http_response_trailers": "onHttpResponseTrailers",
    "on_log": "onLog", "on_done": "onDone", "on_http_call_response": "onHttpCallResponse",
    "on_vm_start": "onVmStart", "on_configure": "onConfigure", "on_tick": "onTick",
}


def _assemblyscript_signature(method: dict[str, Any]) -> str:
    params = []
    for python_name, canonical in method["params"]:
        kind = "bool" if canonical in BOOL_PARAMS else "u32"
        params.append(f"{AssemblyScriptTranslator.name(python_name)}: {kind}")
    result = {"action": "Action", "bool": "bool", "none": "void"}[method["returns"]]
    return f"{_AS_METHODS[method['python_name']]}({', '.join(params)}): {result}"


def _rust_default(spec: Field) -> str:
    if spec.type == "str":
        return f"{_rust_string(spec.default or '')}.to_string()"
    if spec.type == "optstr":
        return "None" if spec.default is None else f"Some({_rust_string(spec.default)}.to_string())"
    if spec.type == "bool":
        return "true" if spec.default else "false"
    if spec.type == "int":
        return str(int(spec.default or 0))
    if spec.type == "float":
        return repr(float(spec.default or 0.0))
    return "None"


def _assemblyscript_default(spec: Field) -> str:
    if spec.type == "str":
        return json.dumps(spec.default or "")
    if spec.type == "optstr":
        return "null" if spec.default is None else json.dumps(spec.default)
    if spec.type == "bool":
        return "true" if spec.default else "false"
    if spec.type == "int":
        return str(int(spec.default or 0))
    if spec.type == "float":
        return repr(float(spec.default or 0.0))
    return "null"


def _fields(context: ContextClass | None, language: str) -> list[dict[str, str]]:
    if context is None:
        return []
    out = []
    for spec in context.fields.values():
        if language == "rust":
            out.append({"name": RustTranslator.name(spec.name), "type": RUST_TYPES[spec.type],
                        "default": _rust_default(spec), "config_key": spec.config_key})
        else:
            out.append({"name": AssemblyScriptTranslator.name(spec.name), "type": AS_TYPES[spec.type],
                        "default": _assemblyscript_default(spec), "config_key": spec.config_key})
    return out


def generate_skeleton(filter_path: Path, language: str, output_dir: Path, *, name: str | None = None,
                      no_deps: bool = False) -> Path:
    """Write a `language` project translated from the Python filter at `filter_path`; return its dir.

    The project also keeps the Python original as `python/filter.py` and a parity test
    (`tests/test_parity.py`) that sends the same requests through both.
    """
    if language not in SKELETON_LANGUAGES:
        raise UserError(f"unknown language {language!r}; choose rust or assemblyscript.")
    if no_deps and language != "rust":
        raise UserError("--no-deps applies only to --lang rust.")
    filter_path = Path(filter_path)
    if filter_path.is_dir():
        filter_path = filter_path / "__init__.py"
    model = read_filter(filter_path)
    tree = ast.parse(filter_path.read_text())
    loggers = _module_loggers(tree)
    translator = RustTranslator if language == "rust" else AssemblyScriptTranslator
    root_methods = _translate_methods(model, model.root, translator, loggers)
    http_methods = _translate_methods(model, model.http, translator, loggers) if model.http else []
    signature = _rust_signature if language == "rust" else _assemblyscript_signature
    for method in root_methods + http_methods:
        method["signature"] = signature(method)
    config = {spec.config_key: spec.default for spec in model.config_fields}
    project_name = name or Path(output_dir).absolute().name
    context: dict[str, Any] = {
        **scaffold.project_names(project_name),
        "lang": language,
        "no_deps": no_deps,
        "root_id": model.root_id,
        "root_id_rust": _rust_string(model.root_id),
        "assemblyscript_version": lang_builds.ASSEMBLYSCRIPT_VERSION,
        "source_name": filter_path.name,
        "root": {"name": model.root.name, "fields": _fields(model.root, language), "methods": root_methods,
                 "leftovers": [line for block in model.root.leftovers for line in textwrap.dedent(block).splitlines()]},
        "http": None if model.http is None else {
            "name": model.http.name, "fields": _fields(model.http, language), "methods": http_methods,
            "leftovers": [line for block in model.http.leftovers for line in textwrap.dedent(block).splitlines()],
        },
        "leftovers": [line for block in model.leftovers for line in block.splitlines()],
        "config_json": json.dumps(config),
        "config_fields": [{"key": spec.config_key, "default": spec.default, "field": spec.name}
                          for spec in model.config_fields],
        "header_names": model.header_names,
        "touched_headers": model.touched_headers,
        "header_values": model.header_values,
        "translated": [m["python_name"] for m in root_methods + http_methods if m["body"] is not None],
        "kept": [(m["python_name"], m["reason"]) for m in root_methods + http_methods if m["body"] is None],
    }
    source_text = filter_path.read_bytes()
    environment = scaffold.template_environment()

    def fill(target: Path) -> None:
        skip = ("README.md.j2", "config.json", "tests/test_filter.py.j2",
                "assembly/index.ts.j2", "src/lib.rs.j2")
        scaffold.render_language_files(language, target, context, skip=skip)
        source_file = "assembly/index.ts" if language == "assemblyscript" else "src/lib.rs"
        renders = {
            source_file: f"{language}/skeleton/{Path(source_file).name}.j2",
            "README.md": "assemblyscript/skeleton/README.md.j2",
            "tests/test_parity.py": "assemblyscript/skeleton/test_parity.py.j2",
        }
        for relative, template in renders.items():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            text = environment.get_template(template).render(**context)
            destination.write_text(re.sub(r"\n{3,}", "\n\n", text))
        (target / "config.json").write_text(context["config_json"] + "\n")
        (target / "python").mkdir()
        (target / "python" / "filter.py").write_bytes(source_text)
        if language == "assemblyscript":
            lang_builds.write_assemblyscript_binding(target)
        if language == "rust" and no_deps:
            lang_builds.write_rust_binding(target)

    return scaffold.write_project(Path(output_dir), fill)
