/*
 * test_fingerprint.c: the SQL fingerprint's rules and its safety on hostile input.
 *
 * The full table of cases lives in tests/unit/fingerprint_cases.py and runs against both the
 * C code and the Python twin; these tests pin one example per rule in C alone, so that a
 * broken rule shows up without Python, plus what only C can check: reads stay inside the
 * given length, output stays bounded, and the id is FNV-1a of the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"
#include "fingerprint_cache.h"
#include "runner.h"

/* Normalizes a NUL-terminated statement; the caller releases `fp`. */
static void
normalize(const char *sql, rs_fingerprint *fp)
{
    if (rs_fp_normalize(sql, strlen(sql), fp) != 0) {
        fprintf(stderr, "rs_fp_normalize ran out of memory\n");
        abort();
    }
}

/* Asserts that `sql` normalizes to `expected`, and that the text is a fixed point. */
static void
check_text(const char *sql, const char *expected)
{
    rs_fingerprint fp;
    rs_fingerprint again;
    normalize(sql, &fp);
    normalize(fp.text, &again);
    int text_ok = strcmp(fp.text, expected) == 0;       /* The text is the expected one. */
    int fixed_point = strcmp(again.text, fp.text) == 0; /* Normalizing it changes nothing. */
    if (!text_ok || !fixed_point) {
        fprintf(stderr, "  input:    %s\n  expected: %s\n  got:      %s\n  again:    %s\n", sql,
                expected, fp.text, again.text);
    }
    rs_fp_release(&fp);
    rs_fp_release(&again);
    ASSERT(text_ok);
    ASSERT(fixed_point);
}

/* Asserts that two statements share a fingerprint. */
static void
check_same(const char *left, const char *right)
{
    rs_fingerprint a;
    rs_fingerprint b;
    normalize(left, &a);
    normalize(right, &b);
    int same = a.id == b.id && strcmp(a.text, b.text) == 0;
    if (!same) {
        fprintf(stderr, "  %s\n    -> %s\n  %s\n    -> %s\n", left, a.text, right, b.text);
    }
    rs_fp_release(&a);
    rs_fp_release(&b);
    ASSERT(same);
}

TEST_IMPL(fp_hash_is_fnv1a_64)
{
    ASSERT_EQ(rs_fp_hash("", 0), 0xcbf29ce484222325ull);
    ASSERT_EQ(rs_fp_hash("a", 1), 0xaf63dc4c8601ec8cull);
    ASSERT_EQ(rs_fp_hash("foobar", 6), 0x85944171f73967e8ull);
}

TEST_IMPL(fp_id_is_the_hash_of_the_text)
{
    rs_fingerprint fp;
    normalize("SELECT 1", &fp);
    ASSERT_STREQ(fp.text, "select ?");
    ASSERT_EQ(fp.length, strlen(fp.text));
    ASSERT_EQ(fp.id, rs_fp_hash(fp.text, fp.length));
    rs_fp_release(&fp);
    ASSERT(fp.text == NULL);
    rs_fp_release(&fp);
}

TEST_IMPL(fp_literals_become_placeholders)
{
    check_text("SELECT 1, -2.5, 1e10, .5, 0xFF, 'it''s', E'a\\'b', N'x', X'0f', B'01'",
               "select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?");
    check_text("SELECT $$a$$, $body$ x $ y $body$, TRUE, false", "select ?, ?, ?, ?");
    check_text("SELECT a - 1, a-1, a = -1", "select a - ?, a - ?, a = ?");
}

TEST_IMPL(fp_every_placeholder_style_is_one)
{
    check_text("SELECT ?, ?1, $1, :name, :1, %s, %(name)s, @p", "select ?, ?, ?, ?, ?, ?, ?, ?");
    check_text("SELECT x::int, 5 %% 2, @@version", "select x::int, ? % ?, @@version");
}

TEST_IMPL(fp_null_tests_stay)
{
    check_text("SELECT * FROM t WHERE a IS NULL AND b IS NOT NULL OR c = NULL",
               "select * from t where a is null and b is not null or c = null");
}

TEST_IMPL(fp_in_lists_collapse)
{
    rs_fingerprint fp;
    normalize("SELECT * FROM t WHERE id IN (1, 2, 3) AND x IN (%s, %s)", &fp);
    ASSERT_STREQ(fp.text, "select * from t where id in (...) and x in (...)");
    ASSERT(fp.flags & RS_FP_HAS_LIST);
    ASSERT_EQ(fp.list_arity, 3);
    rs_fp_release(&fp);

    normalize("SELECT * FROM t WHERE id IN (%s)", &fp);
    ASSERT_STREQ(fp.text, "select * from t where id in (?)");
    ASSERT_EQ(fp.flags & RS_FP_HAS_LIST, 0);
    ASSERT_EQ(fp.list_arity, 0);
    rs_fp_release(&fp);

    check_text("SELECT 1 WHERE a IN (SELECT b FROM c) AND d IN (1, e)",
               "select ? where a in (select b from c) and d in (?, e)");
    check_text("SELECT 1 WHERE a = ANY(ARRAY[1, 2]) AND b = ANY(%s)",
               "select ? where a = any(array[...]) and b = any(?)");
}

TEST_IMPL(fp_long_in_list_stays_short)
{
    size_t items = 10000;
    char *sql = malloc(items * 3 + 64);
    ASSERT(sql != NULL);
    char *p = sql + sprintf(sql, "SELECT * FROM t WHERE id IN (");
    for (size_t i = 0; i < items; i++) {
        p += sprintf(p, i ? ",%zu" : "%zu", i % 10);
    }
    strcpy(p, ")");
    rs_fingerprint fp;
    normalize(sql, &fp);
    free(sql);
    ASSERT_STREQ(fp.text, "select * from t where id in (...)");
    ASSERT_EQ(fp.list_arity, items);
    rs_fp_release(&fp);
}

TEST_IMPL(fp_values_rows_collapse)
{
    rs_fingerprint one;
    rs_fingerprint many;
    normalize("INSERT INTO t (a, b) VALUES (1, 'x')", &one);
    normalize("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", &many);
    ASSERT_STREQ(many.text, "insert into t(a, b) values (?, ?), ...");
    ASSERT_EQ(one.id, many.id);
    ASSERT_EQ(one.flags & RS_FP_HAS_LIST, 0);
    ASSERT(many.flags & RS_FP_HAS_LIST);
    ASSERT_EQ(many.list_arity, 3);
    ASSERT_EQ(many.kind, RS_STMT_WRITE);
    rs_fp_release(&one);
    rs_fp_release(&many);
    check_text("INSERT INTO t VALUES (1), (2) ON CONFLICT DO NOTHING",
               "insert into t values (?), ... on conflict do nothing");
}

TEST_IMPL(fp_comments_vanish)
{
    check_same("SELECT 1 /* a /* nested */ comment */ -- trailing\n",
               "SELECT 1 /*controller='index',framework='django'*/");
    check_text("SELECT /* unterminated", "select");
}

TEST_IMPL(fp_spacing_is_canonical)
{
    check_same("a=1", "a = 1");
    check_same("a = 1", "a  =\n\t 1");
    check_text("SELECT COUNT( * ) , t . x FROM t WHERE ( a = 1 )",
               "select count(*), t.x from t where (a = ?)");
}

TEST_IMPL(fp_identifiers_lose_plain_quotes)
{
    check_same("SELECT \"app_book\".\"id\" FROM \"app_book\"", "select app_book.id from app_book");
    check_same("SELECT `id` FROM [dbo].[book]", "select id from dbo.book");
    check_text("SELECT \"Title\", \"a b\", [Order Details] FROM \"true\"",
               "select \"Title\", \"a b\", [Order Details] from \"true\"");
}

TEST_IMPL(fp_savepoint_and_cursor_names_vanish)
{
    check_same("SAVEPOINT \"s140_x1\"", "SAVEPOINT \"s999_x7\"");
    check_text("SAVEPOINT \"s140_x1\"", "savepoint ?");
    check_text("RELEASE SAVEPOINT s1", "release savepoint ?");
    check_text("ROLLBACK TO SAVEPOINT s1", "rollback to savepoint ?");
    check_text("DECLARE \"_django_curs_1\" NO SCROLL CURSOR WITH HOLD FOR SELECT 1",
               "declare ? no scroll cursor with hold for select ?");
    check_text("FETCH FORWARD 2000 FROM \"_django_curs_1\"", "fetch forward ? from ?");
    check_text("CLOSE c1; CLOSE ALL", "close ?; close all");
    check_text("PREPARE q (int) AS SELECT $1; EXECUTE q(1); DEALLOCATE PREPARE q",
               "prepare ? (int) as select ?; execute ? (?); deallocate prepare ?");
}

TEST_IMPL(fp_kind_comes_from_the_leading_verb)
{
    static const struct {
        const char *sql;
        rs_stmt_kind kind;
    } cases[] = {
        {"SELECT 1", RS_STMT_READ},
        {"(SELECT 1) UNION (SELECT 2)", RS_STMT_READ},
        {"WITH x AS (SELECT 1) DELETE FROM t", RS_STMT_WRITE},
        {"WITH RECURSIVE x(n) AS (SELECT 1 UNION SELECT n + 1 FROM x) SELECT * FROM x",
         RS_STMT_READ},
        {"update t set a = 1", RS_STMT_WRITE},
        {"BEGIN", RS_STMT_TRANSACTION},
        {"SAVEPOINT s1", RS_STMT_TRANSACTION},
        {"PRAGMA foreign_keys", RS_STMT_OTHER},
        {"", RS_STMT_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rs_fingerprint fp;
        normalize(cases[i].sql, &fp);
        rs_stmt_kind kind = fp.kind;
        rs_fp_release(&fp);
        ASSERT_EQ(kind, cases[i].kind);
    }
}

TEST_IMPL(fp_reads_only_the_given_bytes)
{
    /* An exact-size heap copy, without a NUL: ASan reports any read past it. */
    static const char *inputs[] = {"SELECT 'unterminated",
                                   "SELECT \"unterminated",
                                   "SELECT $tag$ x",
                                   "SELECT 1e",
                                   "x IN (1,",
                                   "-- c",
                                   "/* c *",
                                   "%(name",
                                   "E'\\",
                                   "[abc",
                                   "@@",
                                   "$1",
                                   "0x"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t length = strlen(inputs[i]);
        for (size_t cut = 0; cut <= length; cut++) {
            char *copy = malloc(cut ? cut : 1);
            ASSERT(copy != NULL);
            memcpy(copy, inputs[i], cut);
            rs_fingerprint fp;
            int status = rs_fp_normalize(copy, cut, &fp);
            free(copy);
            ASSERT_EQ(status, 0);
            ASSERT_EQ(strlen(fp.text), fp.length);
            rs_fp_release(&fp);
        }
    }
}

TEST_IMPL(fp_nul_bytes_are_whitespace)
{
    static const char sql[] = "SELECT\0a\0FROM\0t WHERE b = 'x\0y'";
    rs_fingerprint fp;
    ASSERT_EQ(rs_fp_normalize(sql, sizeof(sql) - 1, &fp), 0);
    ASSERT_STREQ(fp.text, "select a from t where b = ?");
    ASSERT_EQ(fp.length, strlen(fp.text));
    rs_fp_release(&fp);
}

TEST_IMPL(fp_deep_nesting_is_linear)
{
    size_t depth = 10000;
    char *sql = malloc(depth * 2 + 16);
    ASSERT(sql != NULL);
    memset(sql, '(', depth);
    memcpy(sql + depth, "1", 1);
    memset(sql + depth + 1, ')', depth);
    rs_fingerprint fp;
    ASSERT_EQ(rs_fp_normalize(sql, depth * 2 + 1, &fp), 0);
    free(sql);
    ASSERT_EQ(fp.length, depth * 2 + 1);
    ASSERT_EQ(fp.text[depth], '?');
    rs_fp_release(&fp);
}

TEST_IMPL(fp_huge_statement_is_truncated)
{
    size_t length = 10u << 20;
    char *sql = malloc(length);
    ASSERT(sql != NULL);
    memcpy(sql, "SELECT ", 7);
    memset(sql + 7, 'x', length - 7);
    rs_fingerprint fp;
    ASSERT_EQ(rs_fp_normalize(sql, length, &fp), 0);
    free(sql);
    ASSERT(fp.flags & RS_FP_TRUNCATED);
    ASSERT_EQ(fp.length, RS_FP_MAX_INPUT);
    rs_fp_release(&fp);
}

TEST_IMPL(fp_invalid_utf8_passes_through)
{
    static const char sql[] = "SELECT \xff\xfe FROM \"\xc3\" WHERE x = '\x80'";
    rs_fingerprint fp;
    ASSERT_EQ(rs_fp_normalize(sql, sizeof(sql) - 1, &fp), 0);
    ASSERT_STREQ(fp.text, "select \xff\xfe from \xc3 where x = ?");
    rs_fp_release(&fp);
}

/* The cache gives what rs_fp_normalize gives, for a text seen before or not, for texts that
 * share a slot, and for texts too long to keep; each result's text is a copy in the caller's
 * arena, which outlives the cache slot it came from. */
TEST_IMPL(fingerprint_cache_agrees_with_normalize)
{
    rs_arena arena = RS_ARENA_EMPTY;
    static char long_text[RS_FP_CACHE_MAX_TEXT + 100];
    memset(long_text, ' ', sizeof(long_text) - 1);
    memcpy(long_text, "SELECT 1 FROM t WHERE a = 5", 27);
    const char *texts[] = {"SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id = 2",
                           "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
                           "select  *\nfrom t where id=3", long_text};
    for (int round = 0; round < 3; round++) { /* Misses first, then hits. */
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
            rs_fingerprint expected, cached;
            ASSERT_EQ(rs_fp_normalize(texts[i], strlen(texts[i]), &expected), 0);
            ASSERT_EQ(rs_fp_cache_normalize(texts[i], strlen(texts[i]), &arena, &cached), 0);
            ASSERT_EQ(cached.id, expected.id);
            ASSERT_EQ(cached.length, expected.length);
            ASSERT_EQ(memcmp(cached.text, expected.text, expected.length + 1), 0);
            ASSERT_EQ(cached.kind, expected.kind);
            ASSERT_EQ(cached.flags, expected.flags);
            ASSERT_EQ(cached.list_arity, expected.list_arity);
            rs_fp_release(&expected);
        }
    }
    /* Many distinct texts, far more than the slots: every answer still exact, and the first
     * one's text intact after its slot was taken by others. */
    char text[64];
    rs_fingerprint first;
    ASSERT_EQ(rs_fp_cache_normalize("SELECT c FROM t0 WHERE x = 0", 28, &arena, &first), 0);
    for (int i = 0; i < 4 * RS_FP_CACHE_SLOTS; i++) {
        int length = snprintf(text, sizeof(text), "SELECT c%d FROM t%d WHERE x = %d", i % 97, i, i);
        rs_fingerprint expected, cached;
        ASSERT_EQ(rs_fp_normalize(text, (size_t)length, &expected), 0);
        ASSERT_EQ(rs_fp_cache_normalize(text, (size_t)length, &arena, &cached), 0);
        ASSERT_EQ(cached.id, expected.id);
        rs_fp_release(&expected);
    }
    ASSERT_STREQ(first.text, "select c from t0 where x = ?");
    rs_arena_release(&arena);
}
