"""Rust: the dependency-free binding's (and the proxy-wasm crate's) names and syntax."""

from __future__ import annotations

from proxywasm_build.transpile.model import Field, Untranslatable
from proxywasm_build.transpile.translator import Expr, Translator

RUST_RESERVED = {"as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
                 "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
                 "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
                 "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final",
                 "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "root",
                 "context_id", "value", "metric", "parsed"}
RUST_TYPES = {"str": "String", "optstr": "Option<String>", "int": "i64", "float": "f64", "bool": "bool",
              "counter": "Option<u32>", "gauge": "Option<u32>", "histogram": "Option<u32>"}


def rust_string(text: str) -> str:
    """A Rust string literal."""
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


def rust_bytes(data: bytes) -> str:
    """A Rust byte-string literal."""
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
    reserved = RUST_RESERVED
    types = RUST_TYPES
    self_name = "self"
    none = "None"
    action_format = "Action::{}"
    condition_format = "{}"
    cast_format = "{code} as {type}"
    declare_format = "let mut {name} = {value};"
    some_argument = "Some({})"
    optional_argument = "{}.as_deref()"
    header_pair = "({}, {})"
    header_list = "vec![{}]"
    bytes_body = "Some({})"
    str_body = "Some({}.as_bytes())"
    log_format = "let _ = hostcalls::log(LogLevel::{level}, {message});"
    metric_constructor = "hostcalls::define_metric(MetricType::{kind}, {name}).ok()"
    string_methods = {
        "lower": "{subject}.to_lowercase().as_str()", "upper": "{subject}.to_uppercase().as_str()",
        "strip": "{subject}.trim()",
        "startswith": "{subject}.starts_with({argument})", "endswith": "{subject}.ends_with({argument})",
    }
    none_test_formats = ("{}.is_none()", "{}.is_some()")
    equals_optional_format = "({optional}.as_deref() {op} Some({text}))"
    optionals_equal_format = "({left} {op} {right})"
    or_empty_format = "{}.unwrap_or_default().as_str()"
    optional_non_empty_format = "{}.map_or(false, |text| !text.is_empty())"
    non_empty_format = "!{}.is_empty()"
    owned_string_format = "{}.to_string()"
    some_string_format = "Some({}.to_string())"
    signature_format = "fn {name}({params}){result}"
    receiver = ("&mut self",)
    param_types = {"token_id": "u32", "end_of_stream": "bool"}
    default_param_type = "usize"
    result_types = {"action": " -> Action", "bool": " -> bool", "none": ""}
    marks_unused_params = True

    string_literal = staticmethod(rust_string)
    bytes_literal = staticmethod(rust_bytes)

    def read(self, base: str, kind: str) -> Expr:
        # Strings are borrowed where they are used; an optional one is cloned out of its owner.
        if kind == "str":
            return Expr(f"{base}.as_str()", "str")
        if kind == "optstr":
            return Expr(f"{base}.clone()", "optstr")
        return Expr(base, kind)

    def stored(self, wanted: str, expression: Expr) -> str:
        if wanted == "str":
            return f"{expression.code}.to_string()"
        if wanted == "optstr" and expression.type == "str":
            return f"Some({expression.code}.to_string())"
        return super().stored(wanted, expression)

    def field_base(self, owner: str, spec: Field, mutable: bool = False) -> str:
        if owner == "root":
            return f"self.root.{'borrow_mut' if mutable else 'borrow'}().{self.name(spec.name)}"
        return f"self.{self.name(spec.name)}"

    def assign_field(self, owner: str, spec: Field, value: str, operator: str = "=") -> list[str]:
        if owner == "root":  # the value is computed before the root's RefCell is borrowed mutably
            return [f"{{ let value = {value}; {self.field_base(owner, spec, True)} {operator} value; }}"]
        return super().assign_field(owner, spec, value, operator)

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
