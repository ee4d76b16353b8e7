"""The walk over a callback's statements shared by the Rust and AssemblyScript translators."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, ClassVar

from proxywasm_build.transpile.model import (
    BOOL_PARAMS, HEADER_CALL, ContextClass, Field, Method, Untranslatable, call_name, config_lookup,
    is_config_load, literal_type, self_attribute,
)

LOG_LEVELS = {
    "trace": "Trace", "debug": "Debug", "info": "Info", "warn": "Warn", "warning": "Warn",
    "error": "Error", "exception": "Error", "critical": "Critical",
}


@dataclass
class Expr:
    code: str
    type: str  # "str", "optstr", "int", "float", "bool", "bytes", "none", "json", "action"


class Translator:
    """Shared walk over a callback's statements and the rendering both languages share.

    A subclass gives its language's syntax in the tables below (format strings whose `{}` or
    named fields take the pieces) and writes the few renderings that differ in shape.
    """

    indent_unit = "    "
    reserved: ClassVar[set[str]]  # names a Python identifier must not keep (it gets a `_` suffix)
    types: ClassVar[dict[str, str]]  # field or local type -> the language's type
    self_name: ClassVar[str]  # `self` / `this`
    none: ClassVar[str]
    action_format: ClassVar[str]  # `Action::{}` with Continue or Pause
    condition_format: ClassVar[str]  # how `if (...)` wraps its condition
    cast_format: ClassVar[str]  # a numeric cast, unparenthesized: {code}, {type}
    declare_format: ClassVar[str]  # a new local: {name}, {type}, {value}
    some_argument: ClassVar[str]  # a header value given to `set_*`
    optional_argument: ClassVar[str]  # an optional header value given to `set_*`
    header_pair: ClassVar[str]  # one local-reply header: key, value
    header_list: ClassVar[str]
    bytes_body: ClassVar[str]  # a local-reply body from a bytes literal
    str_body: ClassVar[str]  # a local-reply body from a string
    log_format: ClassVar[str]  # {level}, {message}
    metric_constructor: ClassVar[str]  # {kind} (Counter, Gauge, Histogram), {name}
    string_methods: ClassVar[dict[str, str]]  # Python str method -> {subject}, {argument}
    none_test_formats: ClassVar[tuple[str, str]]  # (is None, is not None)
    equals_optional_format: ClassVar[str]  # optional == text: {optional}, {text}, {op} or {negation}
    optionals_equal_format: ClassVar[str]  # optional == optional: {left}, {right}, {op} or {negation}
    or_empty_format: ClassVar[str]
    optional_non_empty_format: ClassVar[str]
    non_empty_format: ClassVar[str]
    owned_string_format: ClassVar[str]  # a field's string default
    some_string_format: ClassVar[str]  # a field's optional string default
    # Callback signatures: {name}, {params}, {result}.
    signature_format: ClassVar[str]
    receiver: ClassVar[tuple[str, ...]] = ()
    param_types: ClassVar[dict[str, str]]  # canonical parameter -> type; others default_param_type
    default_param_type: ClassVar[str]
    result_types: ClassVar[dict[str, str]]  # "action" | "bool" | "none" -> result
    marks_unused_params: ClassVar[bool] = False  # `_name` for a parameter the body does not read

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
        if isinstance(func, ast.Attribute) and self_attribute(func) is not None:
            header = HEADER_CALL.match(func.attr)
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
            if call_name(call) == "log" and len(call.args) == 2:
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
                if call_name(value) not in ("Counter", "Gauge", "Histogram") or not value.args:
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
            if self.context.kind == "http" and self_attribute(value) == "root" and depth == 0 \
                    and target.id not in self.locals:
                self.root_aliases.add(target.id)
                return []
            if is_config_load(value):
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
        name = self_attribute(node)
        if name is not None:
            if name in self.context.fields:
                return ("root" if self.context.kind == "root" else "self", self.context.fields[name])
            return None
        if isinstance(node, ast.Attribute) and self.context.kind == "http" and node.attr in self.root.fields \
                and (self_attribute(node.value) == "root"
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
        if self_attribute(node) == "context_id":
            return self.render_context_id()
        if isinstance(node, ast.Attribute) and node.attr in ("CONTINUE", "PAUSE"):
            return Expr(self.action(node.attr), "action")
        if isinstance(node, ast.Call):
            return self.call_expression(node)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                and self.locals.get(node.value.id) == "json":
            lookup = config_lookup(node, {node.value.id})
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
        if isinstance(func, ast.Attribute) and self_attribute(func) is not None:
            header = HEADER_CALL.match(func.attr)
            if header and header.group(1) == "get" and len(node.args) == 1 and not node.keywords:
                name = self.as_str(self.expression(node.args[0]))
                return self.render_header_get(f"{header.group(2)}_{header.group(3)}", name)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and self.locals.get(func.value.id) == "json":
            lookup = config_lookup(node, {func.value.id})
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

    # -- rendering shared by both languages -----------------------------------------------------

    @classmethod
    def name(cls, python_name: str) -> str:
        return python_name + "_" if python_name in cls.reserved else python_name

    @staticmethod
    def method_name(snake: str) -> str:
        return snake

    @staticmethod
    def bool_literal(value: bool) -> str:
        return "true" if value else "false"

    def none_literal(self) -> str:
        return self.none

    def action(self, name: str) -> str:
        return self.action_format.format("Continue" if name == "CONTINUE" else "Pause")

    def and_operator(self) -> str:
        return "&&"

    def or_operator(self) -> str:
        return "||"

    def call(self, method: str, arguments: str = "", on: str | None = None) -> str:
        return f"{on or self.self_name}.{self.method_name(method)}({arguments})"

    def cast(self, code: str, type_name: str) -> str:
        return "(" + self.cast_format.format(code=code, type=type_name) + ")"

    def render_int_to_float(self, code: str) -> str:
        return self.cast(code, "f64")

    def render_return(self, value: str | None) -> str:
        return "return;" if value is None else f"return {value};"

    def render_if(self, condition: str) -> str:
        return f"if {self.condition_format.format(condition)} {{"

    def render_else_if(self, condition: str) -> str:
        return f"}} else if {self.condition_format.format(condition)} {{"

    def render_else(self) -> str:
        return "} else {"

    def render_param(self, name: str, kind: str) -> Expr:
        name = self.name(name)
        return Expr(name, "bool") if kind == "bool" else Expr(self.cast(name, "i64"), "int")

    def render_context_id(self) -> Expr:
        return Expr(self.cast(f"{self.self_name}.{self.method_name('context_id')}", "i64"), "int")

    def read(self, base: str, kind: str) -> Expr:
        """A local, field or configuration value used in an expression."""
        return Expr(base, kind)

    def stored(self, wanted: str, expression: Expr) -> str:
        """`expression` as it is kept in a local or field of type `wanted`."""
        if wanted == "float" and expression.type == "int":
            return self.cast(expression.code, "f64")
        return expression.code

    def render_local(self, name: str, kind: str) -> Expr:
        return self.read(self.name(name), kind)

    def render_local_declare(self, name: str, expression: Expr) -> str:
        return self.declare_format.format(name=self.name(name), type=self.types[expression.type],
                                          value=self.stored(expression.type, expression))

    def render_local_assign(self, name: str, kind: str, expression: Expr) -> str:
        return f"{self.name(name)} = {self.stored(kind, expression)};"

    def field_base(self, owner: str, spec: Field) -> str:
        raise NotImplementedError

    def assign_field(self, owner: str, spec: Field, value: str, operator: str = "=") -> list[str]:
        return [f"{self.field_base(owner, spec)} {operator} {value};"]

    def render_field(self, owner: str, spec: Field) -> Expr:
        return self.read(self.field_base(owner, spec), spec.type)

    def render_field_assign(self, owner: str, spec: Field, expression: Expr) -> list[str]:
        return self.assign_field(owner, spec, self.stored(spec.type, expression))

    def render_field_augment(self, reference: tuple[str, Field], operator: str, amount: str) -> list[str]:
        return self.assign_field(*reference, amount, operator)

    def render_metric_define(self, owner: str, spec: Field, name: str) -> list[str]:
        return self.assign_field(owner, spec, self.metric_constructor.format(kind=spec.type.capitalize(), name=name))

    def render_header_get(self, which: str, name: str) -> Expr:
        return Expr(self.call(f"get_http_{which}", name), "optstr")

    def render_header_remove(self, which: str, name: str) -> str:
        return self.call(f"set_http_{which}", f"{name}, {self.none}") + ";"

    def render_header_set_optional(self, which: str, name: str, optional: str) -> str:
        return self.call(f"set_http_{which}", f"{name}, {self.optional_argument.format(optional)}") + ";"

    def render_header_write(self, operation: str, which: str, name: str, value: str) -> str:
        if operation == "set":
            value = self.some_argument.format(value)
        return self.call(f"{operation}_http_{which}", f"{name}, {value}") + ";"

    def render_send_http_response(self, status: str, pairs: list[tuple[str, str]], body: str | None) -> str:
        status = self.cast_format.format(code=f"({status})", type="u32")
        headers = self.header_list.format(", ".join(self.header_pair.format(key, value) for key, value in pairs))
        return self.call("send_http_response", f"{status}, {headers}, {body or self.none}") + ";"

    def render_bytes_body(self, data: bytes) -> str:
        return self.bytes_body.format(self.bytes_literal(data))

    def render_str_body(self, text: str) -> str:
        return self.str_body.format(text)

    def render_resume(self, method: str) -> str:
        return self.call(method) + ";"

    def render_log(self, level: str, message: str) -> str:
        return self.log_format.format(level=level, message=message)

    def render_config_get(self, name: str, key: str, default: Any) -> Expr:
        config, kind = self.name(name), literal_type(default)
        key = self.string_literal(key)
        if kind == "str":
            return self.read(self.call("get_string", f"{key}, {self.string_literal(default)}", on=config), "str")
        if kind == "bool":
            return Expr(self.call("get_bool", f"{key}, {self.bool_literal(default)}", on=config), "bool")
        number = self.call("get_number", f"{key}, {float(default)!r}", on=config)
        return Expr(self.cast(number, "i64"), "int") if kind == "int" else Expr(number, "float")

    def render_string_method(self, subject: str, method: str, arguments: list[str]) -> Expr:
        code = self.string_methods[method].format(subject=subject, argument=arguments[0] if arguments else "")
        return Expr(code, "bool" if method in ("startswith", "endswith") else "str")

    def render_is_none(self, code: str, is_none: bool) -> str:
        return self.none_test_formats[0 if is_none else 1].format(code)

    @staticmethod
    def _equality_words(equal: bool) -> dict[str, str]:
        return {"op": "==" if equal else "!=", "negation": "" if equal else "!"}

    def render_optional_equals(self, optional: str, text: str, equal: bool) -> str:
        return self.equals_optional_format.format(optional=optional, text=text, **self._equality_words(equal))

    def render_optionals_equal(self, left: str, right: str, equal: bool) -> str:
        return self.optionals_equal_format.format(left=left, right=right, **self._equality_words(equal))

    def render_or_empty(self, optional: str) -> str:
        return self.or_empty_format.format(optional)

    def render_optional_non_empty(self, optional: str) -> str:
        return self.optional_non_empty_format.format(optional)

    def render_non_empty(self, text: str) -> str:
        return self.non_empty_format.format(text)

    # -- the project's declarations ---------------------------------------------------------------

    @classmethod
    def signature(cls, method: dict[str, Any]) -> str:
        """The callback's declaration line, from one entry of the methods rendered for the template."""
        params = list(cls.receiver)
        for python_name, canonical in method["params"]:
            name = python_name
            if cls.marks_unused_params and python_name not in method["used_params"]:
                name = "_" + python_name.lstrip("_")
            params.append(f"{cls.name(name)}: {cls.param_types.get(canonical, cls.default_param_type)}")
        return cls.signature_format.format(name=cls.method_name(method["python_name"]), params=", ".join(params),
                                           result=cls.result_types[method["returns"]])

    @classmethod
    def default(cls, spec: Field) -> str:
        """A field's initial value."""
        if spec.type == "str":
            return cls.owned_string_format.format(cls.string_literal(spec.default or ""))
        if spec.type == "optstr":
            return cls.none if spec.default is None else cls.some_string_format.format(cls.string_literal(spec.default))
        if spec.type == "bool":
            return cls.bool_literal(spec.default)
        if spec.type == "int":
            return str(int(spec.default or 0))
        if spec.type == "float":
            return repr(float(spec.default or 0.0))
        return cls.none

    @classmethod
    def field_declaration(cls, spec: Field) -> dict[str, Any]:
        return {"name": cls.name(spec.name), "type": cls.types[spec.type], "default": cls.default(spec),
                "config_key": spec.config_key}

    @staticmethod
    def string_literal(text: str) -> str:
        raise NotImplementedError
