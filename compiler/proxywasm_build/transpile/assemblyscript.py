"""AssemblyScript: the bundled binding's names (the Rust SDK's, in camelCase) and syntax."""

from __future__ import annotations

import json

from proxywasm_build.languages.bindings import camel_case
from proxywasm_build.transpile.model import BOOL_PARAMS, Field, Untranslatable
from proxywasm_build.transpile.translator import Expr, Translator

AS_RESERVED = {"break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do",
               "else", "enum", "export", "extends", "false", "finally", "for", "function", "if", "import",
               "in", "instanceof", "new", "null", "return", "super", "switch", "this", "throw", "true",
               "try", "typeof", "var", "void", "while", "with", "let", "static", "yield", "implements",
               "interface", "package", "private", "protected", "public", "root", "contextId", "metric",
               "string", "i32", "u32", "i64", "u64", "f64", "bool", "log", "header"}
AS_TYPES = {"str": "string", "optstr": "string | null", "int": "i64", "float": "f64", "bool": "bool",
            "counter": "Counter | null", "gauge": "Gauge | null", "histogram": "Histogram | null"}


class AssemblyScriptTranslator(Translator):
    indent_unit = "  "
    reserved = AS_RESERVED
    types = AS_TYPES
    self_name = "this"
    none = "null"
    action_format = "Action.{}"
    condition_format = "({})"
    cast_format = "<{type}>{code}"
    declare_format = "let {name}: {type} = {value};"
    some_argument = "{}"
    optional_argument = "{}"
    header_pair = "header({}, {})"
    header_list = "[{}]"
    bytes_body = "String.UTF8.encode({})"
    str_body = "String.UTF8.encode({})"
    log_format = "log(LogLevel.{level}, {message});"
    metric_constructor = "new {kind}({name})"
    string_methods = {
        "lower": "{subject}.toLowerCase()", "upper": "{subject}.toUpperCase()", "strip": "{subject}.trim()",
        "startswith": "{subject}.startsWith({argument})", "endswith": "{subject}.endsWith({argument})",
    }
    none_test_formats = ("({} === null)", "({} !== null)")
    equals_optional_format = "{negation}equalsOptional({optional}, {text})"
    optionals_equal_format = "{negation}optionalsEqual({left}, {right})"
    or_empty_format = "orEmpty({})"
    optional_non_empty_format = "(orEmpty({}).length > 0)"
    non_empty_format = "({}.length > 0)"
    owned_string_format = "{}"
    some_string_format = "{}"
    signature_format = "{name}({params}): {result}"
    param_types = {name: "bool" for name in BOOL_PARAMS}
    default_param_type = "u32"
    result_types = {"action": "Action", "bool": "bool", "none": "void"}

    method_name = staticmethod(camel_case)
    string_literal = staticmethod(json.dumps)

    def bytes_literal(self, data: bytes) -> str:
        try:
            return self.string_literal(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise Untranslatable("bytes that are not UTF-8") from None

    def field_base(self, owner: str, spec: Field) -> str:
        if owner == "root" and self.context.kind == "http":
            return f"this.root.{self.name(spec.name)}"
        return f"this.{self.name(spec.name)}"

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
