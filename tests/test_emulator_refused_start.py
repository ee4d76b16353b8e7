"""A plugin that refuses to start says why in the emulator as `proxywasm run` says it for Envoy:
its last error logs (up to three), else its last warnings."""

from __future__ import annotations

import pytest

from proxywasm.testing import Host, PluginStartError

REFUSING = """
import proxywasm


class Root(proxywasm.RootContext):
    def on_configure(self, plugin_configuration_size: int) -> bool:
{body}
        return False


proxywasm.set_root_context(Root)
"""


@pytest.mark.parametrize("body, said", [
    ("        proxywasm.log_error(\"'limit' must be a number\")\n        proxywasm.log_error(\"'path' is missing\")",
     "last error log: 'limit' must be a number | 'path' is missing"),
    ("        proxywasm.log_warn('no configuration given')", "last warning: no configuration given"),
])
def test_the_filters_own_reason_is_in_the_refusal(tmp_path, body, said):
    path = tmp_path / "refusing.py"
    path.write_text(REFUSING.format(body=body))
    with pytest.raises(PluginStartError) as refused:
        Host.load(path)
    assert str(refused.value).endswith(f"Envoy would reject the configuration ({said})")
