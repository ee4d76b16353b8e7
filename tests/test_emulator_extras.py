"""Emulator internals behind Envoy's foreign functions, set properties and metric names."""

import pytest
from proxywasm.testing import Host, StrictModeError
from proxywasm.testing.foreign_functions import ProtobufError, decode_message
from proxywasm.testing.metrics import MetricValues, envoy_stat_name

from tests.fidelity.test_fidelity_extras import FILTER, GET

SCHEMA = {1: "string", 2: "bool", 3: "enum", 4: "bytes"}


def test_the_decoder_reads_what_protobuf_reads():
    message = b"\x0a\x02ro" + b"\x10\x01" + b"\x18\x03" + b"\x22\x01\xff"
    assert decode_message(message, SCHEMA) == {1: "ro", 2: True, 3: 3, 4: b"\xff"}
    # the last occurrence wins; unknown fields and known ones of another wire type are skipped
    assert decode_message(b"\x0a\x01a\x0a\x01b" + b"\x48\x05" + b"\x08\x07", SCHEMA) == {1: "b"}
    assert decode_message(b"", SCHEMA) == {}


@pytest.mark.parametrize("broken", [b"\x0a\x05ab", b"\x0a", b"\x80", b"\x0a\x01\xff", b"\x0b",
                                    b"\x00\x01", b"\x09\x00"])
def test_the_decoder_refuses_malformed_messages(broken):
    with pytest.raises(ProtobufError):
        decode_message(broken, SCHEMA)


def test_malformed_arguments_are_bad_argument_and_an_empty_message_is_all_defaults(tmp_path):
    source = tmp_path / "declare.py"
    source.write_text(
        "import proxywasm\n"
        "from proxywasm import HostError, RootContext\n"
        "class R(RootContext):\n"
        "    def on_configure(self, size):\n"
        "        for name, args in (('declare_property', b'\\x0a\\x05ab'), ('declare_property', b''),\n"
        "                           ('set_envoy_filter_state', b'\\x12\\x01\\xff')):\n"
        "            try:\n"
        "                proxywasm.call_foreign_function(name, args)\n"
        "                proxywasm.log_info(name + ' ok')\n"
        "            except HostError as err:\n"
        "                proxywasm.log_info(str(err))\n"
        "        return True\n"
        "proxywasm.set_root_context(R)\n")
    host = Host.load(source)
    assert host.log_messages() == ["call_foreign_function failed: BAD_ARGUMENT", "declare_property ok",
                                   "call_foreign_function failed: BAD_ARGUMENT"]


def test_strict_mode_says_why_a_two_segment_property_cannot_be_read():
    host = Host.load(FILTER, plugin_config="{}", strict=True)
    with pytest.raises(StrictModeError, match="first segment only"):
        host.http_request({**GET, "x-ops": "set:a.b=v | get:a.b"})


def test_a_tcp_connection_keeps_what_the_filter_and_the_test_set(tmp_path):
    source = tmp_path / "tcp.py"
    source.write_text(
        "import proxywasm\n"
        "from proxywasm import Action, RootContext, StreamContext\n"
        "class S(StreamContext):\n"
        "    def on_downstream_data(self, size, end_of_stream):\n"
        "        self.set_property(['seen'], 'yes')\n"
        "        proxywasm.log_info(self.get_property_str('seen') + ' ' + self.get_property_str('zone'))\n"
        "        return Action.CONTINUE\n"
        "proxywasm.set_root_context(RootContext)\n"
        "proxywasm.set_stream_context(S)\n")
    host = Host.load(source)
    connection = host.tcp_connection()
    connection.set_property("zone", "z9")
    connection.send_downstream(b"hi")
    assert "yes z9" in host.log_messages()


def test_metric_values_answer_to_both_names():
    values = MetricValues([("a.b.", 1), ("c", 2)])
    assert envoy_stat_name("a.b.") == "wasmcustom.a.b"
    assert (values["a.b."], values["wasmcustom.a.b"], values["a.b"], values.get("wasmcustom.c")) == (1, 1, 1, 2)
    assert "wasmcustom.c" in values and "wasmcustom.x" not in values
    assert values == {"a.b.": 1, "c": 2}
    assert values.envoy_names == {"wasmcustom.a.b": 1, "wasmcustom.c": 2}
    with pytest.raises(KeyError):
        values["wasmcustom.x"]
