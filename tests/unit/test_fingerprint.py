"""The SQL fingerprint: the same cases on the C extension and on the Python twin.

The twin (reqscope/_fingerprint_ref.py) is the readable statement of the rules in
dbhooks/fingerprint.c; each case runs on both, and a seeded generator checks that they agree
on thousands of statements built from SQL fragments and on random bytes.
"""

import random

import pytest

from reqscope import _core, _fingerprint_ref
from fingerprint_cases import CASES, DIFFERENT_SHAPE, SAME_SHAPE

IMPLEMENTATIONS = [pytest.param(_core, id="c"), pytest.param(_fingerprint_ref, id="python")]


def _case_id(case):
    sql = case[0] if isinstance(case[0], str) else case[0].decode("latin-1")
    return repr(sql[:40]) + (f"..{len(sql)}" if len(sql) > 40 else "")


def _utf8(text):
    return text.encode("utf-8", "surrogateescape")


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request):
    return request.param


@pytest.mark.parametrize("sql, expected_text, extra", CASES, ids=[_case_id(c) for c in CASES])
def test_case_gives_expected_fingerprint(implementation, sql, expected_text, extra):
    info = implementation.fingerprint_info(sql)
    assert info["text"] == expected_text
    for key, value in extra.items():
        assert info[key] == value, key
    assert info["id"] == _fingerprint_ref.fnv1a_64(_utf8(info["text"]))
    assert implementation.fingerprint(sql) == (info["id"], info["text"])
    assert info["has_list"] == (info["list_arity"] > 0)


@pytest.mark.parametrize("sql, expected_text, extra", CASES, ids=[_case_id(c) for c in CASES])
def test_normalized_text_is_a_fixed_point(implementation, sql, expected_text, extra):
    text = implementation.fingerprint(sql)[1]
    assert implementation.fingerprint(_utf8(text))[1] == text


@pytest.mark.parametrize("left, right", SAME_SHAPE)
def test_same_shape_shares_a_fingerprint(implementation, left, right):
    assert implementation.fingerprint(left) == implementation.fingerprint(right)


@pytest.mark.parametrize("left, right", DIFFERENT_SHAPE)
def test_different_shape_gets_another_fingerprint(implementation, left, right):
    assert implementation.fingerprint(left)[0] != implementation.fingerprint(right)[0]


def test_fnv1a_64_matches_the_published_vectors():
    assert _fingerprint_ref.fnv1a_64(b"") == 0xCBF29CE484222325
    assert _fingerprint_ref.fnv1a_64(b"a") == 0xAF63DC4C8601EC8C
    assert _fingerprint_ref.fnv1a_64(b"foobar") == 0x85944171F73967E8


def test_public_fingerprint_is_the_c_one():
    import reqscope

    sql = 'SELECT "a"."id" FROM "a" WHERE "a"."id" IN (%s, %s)'
    assert reqscope.fingerprint(sql) == _core.fingerprint(sql)


def test_str_and_its_utf8_bytes_agree(implementation):
    sql = "SELECT 'é', naïve FROM t"
    assert implementation.fingerprint(sql) == implementation.fingerprint(sql.encode("utf-8"))


def test_other_argument_types_raise_type_error(implementation):
    for argument in (None, 42, bytearray(b"SELECT 1")):
        with pytest.raises(TypeError):
            implementation.fingerprint(argument)


def test_lone_surrogates_behave_alike():
    sql = b"SELECT '\xff'".decode("utf-8", "surrogateescape")
    outcomes = []
    for implementation in (_core, _fingerprint_ref):
        try:
            outcomes.append(implementation.fingerprint_info(sql))
        except UnicodeEncodeError:
            outcomes.append(UnicodeEncodeError)
    assert outcomes[0] == outcomes[1]


# Fragments that generated statements are built from: keywords, every literal and placeholder
# style, quotes, comments, operators, and the broken pieces (lone quotes, NUL, stray bytes).
FRAGMENTS = [
    "SELECT", "select", "FROM", "WHERE", "AND", "OR", "IN", "in", "NOT", "IS", "NULL", "TRUE",
    "false", "(", ")", "(", ")", ",", ",", " ", "\n", "\t", "1", "-1", "+2.5e3", ".5", "0x1f",
    "42", "'a''b'", "E'x\\'y'", "N'z'", "x'0f'", "B'01'", "$$d$$", "$t$q$t$", "$1", "?", "?3",
    ":name", "::int", "::", "%s", "%%", "%(n)s", "%(", "@p", "@@v", '"Tbl"', '"tbl"', '"a b"',
    "`c`", "[dbo]", "[a b]", "ARRAY", "[", "]", "ANY", "VALUES", "values", "INSERT INTO t",
    "UPDATE t", "SET", "DELETE", "WITH", "RECURSIVE", "AS", "SAVEPOINT", "RELEASE", "ROLLBACK",
    "TO", "FETCH", "NEXT", "FORWARD", "DECLARE", "CURSOR", "FOR", "CLOSE", "ALL", "PREPARE",
    "EXECUTE", "DEALLOCATE", "TRANSACTION", "BEGIN", "COMMIT", ";", "--c\n", "/* x */", "/*",
    "*/", "'", '"', "`", "$", "-", "+", "*", "/", "=", "<", ">", "<=", "<>", "!=", "||", "->>",
    "#>", "@>", ".", "...", "a", "b.c", "count", "x", "\x00", "é", "%", ":", "@", "#", "~", "&",
    "|", "e", "E", "LIMIT", "ON", "CONFLICT", "DO", "NOTHING", "JOIN", "ORDER BY", "GROUP BY",
]  # fmt: skip


def _generated_statements(count, seed):
    generator = random.Random(seed)
    for _ in range(count):
        pieces = []
        for _ in range(generator.randint(0, 40)):
            pieces.append(generator.choice(FRAGMENTS))
            if generator.random() < 0.5:
                pieces.append(" ")
        statement = "".join(pieces)
        yield statement.encode("latin-1", "replace") if generator.random() < 0.1 else statement


def _random_bytes(count, seed):
    generator = random.Random(seed)
    alphabet = b"'\"`[]()$:%@?,;.-+/*=<>!|#~ \n\x00\xff\xc3aeEnNxXbBsS019_"
    for _ in range(count):
        yield bytes(generator.choice(alphabet) for _ in range(generator.randint(0, 60)))


def test_c_and_twin_agree_on_generated_statements():
    for sql in _generated_statements(3000, seed=20240611):
        assert _core.fingerprint_info(sql) == _fingerprint_ref.fingerprint_info(sql), repr(sql)


def test_c_and_twin_agree_on_random_bytes():
    for sql in _random_bytes(3000, seed=7):
        assert _core.fingerprint_info(sql) == _fingerprint_ref.fingerprint_info(sql), repr(sql)


def test_generated_statements_normalize_to_fixed_points():
    for sql in _generated_statements(3000, seed=99):
        text = _core.fingerprint(sql)[1]
        assert _core.fingerprint(_utf8(text))[1] == text, repr(sql)
