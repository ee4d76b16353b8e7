"""The MicroPython runtime behaves like CPython where filter code commonly met a difference
(compat_patches.py): each snippet runs under the dev interpreter and under CPython, and prints
the same."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import textwrap

import pytest

from proxywasm_build.backends.micropython.interpreter import run_micropython


def outputs(source: str) -> tuple[str, str]:
    """(MicroPython's stdout, CPython's stdout) for `source`; either failing fails the test."""
    source = textwrap.dedent(source)
    micropython = run_micropython(source)
    assert micropython.returncode == 0, micropython.stderr
    cpython = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True)
    assert cpython.returncode == 0, cpython.stderr
    return micropython.stdout, cpython.stdout


def assert_same(source: str) -> None:
    micropython, cpython = outputs(source)
    assert micropython.splitlines() == cpython.splitlines()


def expressions(*exprs: str) -> str:
    """A script printing each expression's repr, or the exception's type when it raises."""
    return ("def show(text):\n"
            "    try:\n"
            "        print(text, '->', repr(eval(text)))\n"
            "    except Exception as e:\n"
            "        print(text, '!!', type(e).__name__)\n"
            f"for text in {list(exprs)!r}:\n"
            "    show(text)\n")


def test_float_repr_is_the_shortest_round_trip_text():
    assert_same(expressions(
        "0.1 + 0.2", "str(0.1 + 0.2)", "1 / 3", "2 / 3", "0.1 + 0.7", "sum([0.1] * 10)", "3.0 * 1.1",
        "1e16", "1e15", "123456789012345678.0", "1000000000000000.0", "100.0", "0.0001", "1e-05",
        "1.5e-07", "-1.5e-7", "2.5e-5", "5e-324", "1e-320", "2.2250738585072014e-308",
        "1.7976931348623157e308", "1e22", "1e23", "8.41e21", "float('inf')", "float('-inf')",
        "float('nan')", "-0.0", "0.0", "str(1e100)", "[1.5, 0.1 + 0.2]", "{'a': 0.1 + 0.2}"))


def test_float_repr_of_random_doubles_matches_cpython():
    rng = random.Random(1234)
    patterns = [rng.getrandbits(64) for _ in range(1500)]
    patterns += [struct.unpack("<Q", struct.pack("<d", rng.uniform(-1e6, 1e6)))[0] for _ in range(1500)]
    assert_same(f"""
        import struct
        for n in {patterns!r}:
            x = struct.unpack('<d', struct.pack('<Q', n))[0]
            if x == x:
                print(repr(x), float(repr(x)) == x)
        """)


def test_float_parsing_is_correctly_rounded():
    rng = random.Random(99)
    texts = [f"{rng.randrange(10**16, 10**17)}e{rng.randrange(-330, 300)}" for _ in range(1000)]
    texts += [f"0.{rng.randrange(10**19)}" for _ in range(500)] + ["0.30000000000000004", "1_000.5", " 2.5 "]
    for _ in range(500):
        digits = str(rng.randrange(1, 10**rng.randrange(1, 40)))
        texts.append(f"{digits[:1]}.{digits[1:]}e{rng.randrange(-340, 320)}")
    # ties to even, the subnormal and overflow boundaries, more digits than a double holds
    texts += ["9007199254740993", "9007199254740995", "9007199254740993.000000000000000000001",
              "2.4703282292062327e-324", "2.4703282292062328e-324", "4.9e-324", "1e-400",
              "2.2250738585072011e-308", "2.2250738585072012e-308", "1.7976931348623158e308",
              "1.7976931348623159e308", "1.00000000000000011102230246251565404236316680908203125",
              "1.00000000000000011102230246251565404236316680908203124",
              "3.14159265358979323846264338327950288", "0.000000000000000000000000000123456789012345678901"]
    assert_same(f"""
        for text in {texts!r}:
            print(repr(float(text)))
        print(0.30000000000000004, 1.7976931348623157e308, 4.9406564584124654e-324, 1_0.5e-1_0)
        """)


def test_float_formatting_matches_cpython():
    assert_same(expressions(
        "format(0.1, 'g')", "format(1234.5678, '.2f')", "format(1234.5678, 'e')", "format(1.0, '.3')",
        "format(1e20, '.3')", "format(0.1 + 0.2)", "format(0.5, '')", "f'{0.1 + 0.2:>25}'", "f'{2.5:<8}|'",
        "'%.3f' % 2.675", "'%.2f' % 2.675", "'%.2f' % 1e30", "'%.1f' % 0.25", "'%e' % 0.1", "'%g' % 1e-5",
        "'%5.1f%%' % 12.34", "'{:.3%}'.format(0.12345)", "'{:+.1f}'.format(2.25)", "'{: .2f}'.format(1)",
        "'{:10.3f}|'.format(3.14159)", "'{:^10.2e}|'.format(1234.5)", "'{:08.3f}'.format(-3.14159)",
        "'{:.10g}'.format(2 / 3)", "'{:G}'.format(1e-10)", "'{:f}'.format(float('inf'))",
        "'{:+}'.format(float('nan'))", "'%s|%r' % (0.1 + 0.2, 1e16)"))


def test_round_and_int_float_conversions_match_cpython():
    assert_same(expressions(
        "round(2.675, 2)", "round(0.125, 2)", "round(1234.5, -2)", "round(2.5)", "round(-0.5)", "round(1.5)",
        "round(0.1 + 0.2, 15)", "round(1e300, 2)", "int(1e20)", "int(-1e19)", "float(10**20)", "float(2**70)",
        "int(1.5e300) == 15 * 10**299", "int('0x10', 16)", "int(' 42 ')", "int('1_000')"))


def test_startswith_and_endswith_take_a_tuple():
    assert_same(expressions(
        "'abc'.startswith(('x', 'a'))", "'abc'.startswith(('x', 'y'))", "'abc'.endswith(('b', 'c'))",
        "'abc'.endswith(())", "'abc'.startswith(('x', 'b'), 1)", "b'abc'.startswith((b'a',))",
        "'Bearer t'.startswith(('Basic ', 'Bearer '))"))


def test_slices_take_a_step():
    assert_same(expressions(
        "'abc'[::-1]", "'abcdef'[1:5:2]", "'abcdef'[-1:-10:-2]", "'abcdef'[10:0:-1]", "'abcdef'[::7]",
        "'héllo wörld'[::-1]", "'héllo'[4:0:-2]", "b'abcdef'[::3]", "b'abc'[::-1]",
        "bytearray(b'abcdef')[::-2]", "'abc'[::0]"))


def test_added_str_and_bytes_methods():
    assert_same(expressions(
        "'x'.zfill(5)", "'-42'.zfill(6)", "'+4'.zfill(1)", "b'7'.zfill(3)", "'ab'.ljust(5, '*')",
        "'ab'.rjust(5)", "'é'.rjust(3, 'ü')", "b'ab'.ljust(4, b'-')", "'ab'.ljust(3, '--')",
        "'content-type'.title()", "'hELLO wORLD 3rd x-y_z'.title()", "b'abc def'.title()",
        "'hELLO World'.capitalize()", "'aBc1'.swapcase()", "'ABC'.casefold()", "'ab1'.isalnum()",
        "''.isalnum()", "'a b'.isalnum()", "'é'.isascii()", "'ab'.isascii()", "'123'.isdecimal()",
        "'12a'.isnumeric()", "'Bearer xyz'.removeprefix('Bearer ')", "'file.py'.removesuffix('.py')",
        "'x'.removeprefix('')", "b'ab'.removesuffix(b'b')", "'a\\tb\\tc'.expandtabs()",
        "'a\\tbc\\td'.expandtabs(4)", "'é\\tx'.expandtabs(4)", "b'\\x01\\xab'.hex()", "b''.hex()",
        "b'\\x01\\x02\\x03'.hex(':')", "b'\\x01\\x02\\x03\\x04\\x05'.hex('-', 2)",
        "b'\\x01\\x02\\x03\\x04\\x05'.hex('-', -2)", "bytearray(b'\\xff\\x00').hex()",
        "bytes.fromhex('01 ab FF')", "bytes.fromhex('')", "bytearray.fromhex('0102')", "bytes.fromhex('0g')",
        "bytes.fromhex('012')"))


def test_builtins_and_exceptions_like_cpython():
    assert_same(expressions(
        "format(12, '05d')", "format('ab', '>4')", "format(3)", "format(255, 'x')", "isinstance(True, int)",
        "issubclass(bool, int)", "isinstance(1, bool)", "True + True", "repr(ValueError('x'))",
        "repr(ValueError())", "repr(ValueError(1, 2))", "str(ValueError('x'))", "str(KeyError('a'))",
        "str(KeyError(1, 2))", "repr('é\\u2028ü日本')", "repr('\\xa0\\xad\\x7f')", "['naïve']"))
    assert_same("""
        try:
            {}['missing']
        except KeyError as error:
            print(str(error), repr(error), error.args)
        """)



def test_big_dicts_find_a_key_by_hash_not_by_comparing_every_key():
    # a linear search calls __eq__ against every key before the match; a hash index only on
    # equal hashes, as CPython does
    assert_same("""
        class Key:
            compared = 0
            def __init__(self, value):
                self.value = value
            def __hash__(self):
                return hash(self.value)
            def __eq__(self, other):
                Key.compared += 1
                return isinstance(other, Key) and other.value == self.value
        table = {Key(i): i for i in range(1000)}
        Key.compared = 0
        print(table[Key(700)], Key(5000) in table, Key.compared)
        del table[Key(3)]
        table[Key(3)] = 'back'
        print(list(table.values())[-2:], len(table), table[Key(999)])
        """)


def test_dicts_under_random_operations_match_cpython():
    assert_same("""
        state = 12345
        def rnd(n):
            global state
            state = (state * 1103515245 + 12345) & 0x7fffffff
            return (state >> 8) % n
        def make_key(r):
            kind, v = r % 5, r // 5
            return (v, 'k' + str(v), float(v), (v, 'x'), v + 2 ** 40)[kind]
        d, copies, log = {}, [], []
        for op in range(100000):
            action = rnd(100)
            key = make_key(rnd(1500 if op < 50000 else 150))
            if action < 40:
                d[key] = op
            elif action < 70:
                log.append(d.get(key))
            elif action < 85:
                if key in d:
                    del d[key]
            elif action < 90:
                log.append(d.pop(key, -1))
            elif action < 93:
                log.append(d.setdefault(key, op))
            elif action < 95 and d:
                log.append(d.popitem())
            elif action < 97:
                copies.append(dict(d))
                if len(copies) > 3:
                    copy = copies.pop(0)
                    copy[key] = 1
                    log.append(list(copy)[-3:])
            elif action < 98:
                d.update({make_key(rnd(300)): op for _ in range(5)})
            elif action < 99 and rnd(20) == 0:
                d.clear()
            else:
                log.append(key in d)
            if op % 5000 == 0:
                print(op, len(d), list(d)[:5], list(d)[-5:])
        print(log)
        print(list(d.items()))
        """)


def test_keyword_arguments_and_codecs_like_cpython():
    assert_same(expressions(
        "'a,b,c'.split(',', maxsplit=1)", "'a b c'.split(maxsplit=1)", "'a b  c'.split(sep=None)",
        "'a,b,c'.rsplit(',', maxsplit=1)", "'  a b  c '.rsplit(None, 1)", "' a b '.rsplit(maxsplit=0)",
        "'a b c'.rsplit()", "'   '.rsplit(None, 1)", "b'a b c'.rsplit(None, 1)", "'abc'.encode(encoding='utf-8')", "'é'.encode('latin-1')",
        "'é€'.encode('ascii', 'ignore')", "'é€'.encode('ascii', errors='replace')",
        "'é€'.encode('latin_1', 'backslashreplace')", "b'\\xe9t\\xe9'.decode('latin-1')",
        "b'\\xff\\xfeab'.decode('utf-8', 'replace')", "b'\\xffab'.decode('utf-8', errors='ignore')",
        "b'a\\xe2\\x82'.decode('utf-8', 'replace')", "b'\\xed\\xa0\\x80'.decode('utf-8', 'replace')",
        "b'\\xf0\\x9f\\x98\\x80\\xc3'.decode('utf-8', 'backslashreplace')",
        "b'\\x80'.decode('ascii', 'replace')", "bytearray(b'caf\\xc3\\xa9').decode()", "b'x'.decode('rot13')",
        "(255).to_bytes(2, byteorder='little')", "(-1).to_bytes(2, 'big', signed=True)",
        "(-129).to_bytes(2, 'little', signed=True)", "(-1).to_bytes(2, 'big')", "(5).to_bytes()",
        "int.from_bytes(b'\\xff\\xfe', 'big', signed=True)", "int.from_bytes(b'\\x01\\x80', byteorder='little', signed=True)",
        "int.from_bytes(b'\\x80', 'big')", "(1024).bit_length()", "(-5).bit_length()", "(0).bit_length()",
        "(2 ** 64).bit_length()"))


def test_more_str_bytes_dict_and_bool_behaviour_like_cpython():
    assert_same(expressions(
        "'abc'.endswith('b', 0, 2)", "'abc'.startswith('b', 1, 2)", "'abcdef'.endswith(('x', 'd'), 1, -2)",
        "'abc'.center(7, '*')", "'abc'.center(6, '-')", "'ab'.center(5)", "'é'.center(4, 'ü')",
        "(1, 2, 3)[::-1]", "(1, 2, 3, 4)[1::2]", "True & False", "True | False", "True ^ True", "True & 1",
        "{'a': 1, 'b': 2} | {'b': 3, 'c': 4}", "list(reversed({'a': 1, 'b': 2, 3: 4}))", "'{:,}'.format(1234567.5)", "'{:,.2f}'.format(-1234.5)",
        "f'{1e16:,}'", "'{:,}'.format(0.5)", "repr('\\ufffd😀\\U000e0001')",
        "bytearray(b'abc').find(b'c')", "bytearray(b'abc').startswith(b'a')", "bytearray(b' a ').strip()",
        "bytearray(b'a,b').split(b',')", "bytearray(b'aXb').replace(b'X', b'-')", "bytearray(b'Ab').lower()",
        "bytearray(b'abc').count(bytearray(b'b'))", "bytearray(b'a b').rsplit(None, 1)"))
    assert_same("""
        d = {'a': 1}
        d |= {'b': 2}
        flag = True
        flag &= False
        print(d, flag)
        try:
            b'\\xff'.decode()
        except UnicodeDecodeError as error:
            print('caught', isinstance(error, ValueError))
        try:
            'é'.encode('ascii')
        except UnicodeEncodeError:
            print('caught')
        """)


def test_sorting_is_stable_and_calls_key_once_per_item():
    assert_same("""
        calls = []
        def key(pair):
            calls.append(pair)
            return pair[0]
        data = [(2, "a"), (1, "b"), (2, "c"), (1, "d"), (3, "e"), (2, "f"), (1, "g")] * 3
        print(sorted(data, key=key), len(calls))
        print(sorted(data, key=lambda pair: pair[0], reverse=True))
        words = ["b", "A", "a", "B", "c", "C"]
        words.sort(key=str.lower)
        print(words, sorted(words, key=str.lower, reverse=True))
        numbers = [5, 3, 9, 1, 1, 0, -2, 7, 3.5]
        numbers.sort()
        print(numbers, sorted(numbers, reverse=True), sorted([]), sorted([1]))
        try:
            sorted([1, "a", 2])
        except TypeError:
            print("TypeError")
    """)
