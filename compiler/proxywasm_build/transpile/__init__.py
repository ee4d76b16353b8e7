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

Reading the filter is `model`; the walk over a callback is `translator.Translator`, which
`rust.RustTranslator` and `assemblyscript.AssemblyScriptTranslator` give their syntax.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path
from typing import Any

from proxywasm_build import scaffold
from proxywasm_build.errors import UserError
from proxywasm_build.languages import bindings as lang_builds
from proxywasm_build.transpile.assemblyscript import AssemblyScriptTranslator
from proxywasm_build.transpile.model import ContextClass, FilterModel, Untranslatable, call_name, read_filter
from proxywasm_build.transpile.rust import RustTranslator
from proxywasm_build.transpile.rust import rust_string as _rust_string
from proxywasm_build.transpile.translator import Translator

SKELETON_LANGUAGES = ("rust", "assemblyscript")
TRANSLATORS: dict[str, type[Translator]] = {"rust": RustTranslator, "assemblyscript": AssemblyScriptTranslator}

# The names generate_skeleton picks a language's declarations by.
_rust_signature = RustTranslator.signature
_assemblyscript_signature = AssemblyScriptTranslator.signature


def _module_loggers(tree: ast.Module) -> set[str]:
    return {
        target.id for node in tree.body if isinstance(node, ast.Assign)
        and call_name(node.value) == "getLogger" for target in node.targets if isinstance(target, ast.Name)
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


def _fields(context: ContextClass | None, language: str) -> list[dict[str, str]]:
    if context is None:
        return []
    return [TRANSLATORS[language].field_declaration(spec) for spec in context.fields.values()]


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
        "tcp": model.tcp,
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
