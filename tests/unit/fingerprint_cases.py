"""The SQL fingerprint's cases, run on both the C extension and the Python twin.

CASES holds (sql, expected_text, extra) triples: `sql` is a str or bytes, `expected_text` the
normalized text, and `extra` the other fingerprint_info keys that the case pins (kind,
has_list, list_arity, truncated). SAME_SHAPE holds pairs of statements that must share a
fingerprint, DIFFERENT_SHAPE pairs that must not.
"""

MAX_INPUT = 1 << 20  # RS_FP_MAX_INPUT

_DJANGO_SELECT = (
    'SELECT "app_book"."id", "app_book"."title", "app_book"."author_id", '
    '"app_book"."published" FROM "app_book" INNER JOIN "app_author" ON '
    '("app_book"."author_id" = "app_author"."id") WHERE ("app_book"."id" = %s AND '
    '"app_author"."name" = %s) ORDER BY "app_book"."title" ASC LIMIT 21'
)

CASES = [
    # Literals.
    ("SELECT 1", "select ?", {"kind": "read", "has_list": False, "list_arity": 0}),
    ("SELECT 1.5, 1., .5, 1e10, 1E+10, 2.5e-3, 0x1F", "select ?, ?, ?, ?, ?, ?, ?", {}),
    (
        "SELECT a - 1, a-1, a = -1, a=-1.5, (-2), x * -.5",
        "select a - ?, a - ?, a = ?, a = ?, (?), x * ?",
        {},
    ),
    ("SELECT - 1, +1, a + +1", "select - ?, ?, a + ?", {}),
    ("SELECT 'abc', 'it''s', ''", "select ?, ?, ?", {}),
    (
        "SELECT E'a\\'b', e'\\\\', N'x', n'y', X'0F', x'0f', B'0101', b'1'",
        "select ?, ?, ?, ?, ?, ?, ?, ?",
        {},
    ),
    ("SELECT $$a 'b' c$$, $tag$ x $ y $$ z $tag$, $a$$a$", "select ?, ?, ?", {}),
    ("SELECT TRUE, false, True", "select ?, ?, ?", {}),
    ("SELECT 12abc", "select ? abc", {}),
    # Placeholders.
    ("SELECT ?, ?1, ?123", "select ?, ?, ?", {}),
    ("SELECT $1, $23", "select ?, ?", {}),
    ("SELECT :name, :Name_2, :1", "select ?, ?, ?", {}),
    ("SELECT %s, %(name)s, %(other_1)s, %b, %t", "select ?, ?, ?, ?, ?", {}),
    ("SELECT @p, @Param1", "select ?, ?", {}),
    ("SELECT x::int, $1::text, a :: b", "select x::int, ?::text, a::b", {}),
    ("SELECT 5 %% 2, 'a' LIKE 'b%%'", "select ? % ?, ? like ?", {}),
    (
        "SELECT a % b, @@version, @@SESSION.sql_mode",
        "select a % b, @@version, @@session.sql_mode",
        {},
    ),
    ("SELECT %(name)x, %(", "select % (name) x, % (", {}),
    # NULL.
    ("SELECT * FROM t WHERE a IS NULL", "select * from t where a is null", {}),
    (
        "SELECT * FROM t WHERE a IS NOT NULL AND b = NULL",
        "select * from t where a is not null and b = null",
        {},
    ),
    # IN lists.
    (
        "SELECT * FROM t WHERE id IN (1, 2, 3)",
        "select * from t where id in (...)",
        {"has_list": True, "list_arity": 3},
    ),
    (
        "SELECT * FROM t WHERE id IN (%s,%s)",
        "select * from t where id in (...)",
        {"has_list": True, "list_arity": 2},
    ),
    (
        "SELECT * FROM t WHERE id IN (%s)",
        "select * from t where id in (?)",
        {"has_list": False, "list_arity": 0},
    ),
    (
        "SELECT * FROM t WHERE id NOT IN ('a', 'b') AND x IN (1, 2, 3, 4)",
        "select * from t where id not in (...) and x in (...)",
        {"has_list": True, "list_arity": 2},
    ),
    (
        "SELECT * FROM t WHERE id IN (-1, +2, 3.5)",
        "select * from t where id in (...)",
        {"list_arity": 3},
    ),
    (
        "SELECT * FROM t WHERE id IN (SELECT id FROM u)",
        "select * from t where id in (select id from u)",
        {"has_list": False},
    ),
    (
        "SELECT * FROM t WHERE id IN (1, NULL)",
        "select * from t where id in (?, null)",
        {"has_list": False},
    ),
    (
        "SELECT * FROM t WHERE id IN (1, b)",
        "select * from t where id in (?, b)",
        {"has_list": False},
    ),
    (
        "SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))",
        "select * from t where (a, b) in ((?, ?), (?, ?))",
        {"has_list": False},
    ),
    ("SELECT * FROM t WHERE id IN ()", "select * from t where id in ()", {}),
    (
        "SELECT * FROM t WHERE id IN (1, 2,",
        "select * from t where id in (?, ?,",
        {"has_list": False},
    ),
    (
        "SELECT * FROM t WHERE id IN (" + ",".join(["%s"] * 10000) + ")",
        "select * from t where id in (...)",
        {"has_list": True, "list_arity": 10000},
    ),
    (
        "SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3])",
        "select * from t where id = any(array[...])",
        {"has_list": True, "list_arity": 3},
    ),
    (
        "SELECT * FROM t WHERE id = ANY(%s)",
        "select * from t where id = any(?)",
        {"has_list": False},
    ),
    (
        "SELECT * FROM t WHERE id = ANY(ARRAY[%s])",
        "select * from t where id = any(array[?])",
        {"has_list": False},
    ),
    ("SELECT a[1], a[i], ARRAY[[1, 2]]", "select a[?], a[i], array[[?, ?]]", {}),
    # VALUES.
    (
        "INSERT INTO t (a, b) VALUES (1, 'x')",
        "insert into t(a, b) values (?, ?), ...",
        {"kind": "write", "has_list": False, "list_arity": 0},
    ),
    (
        "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
        "insert into t(a, b) values (?, ?), ...",
        {"kind": "write", "has_list": True, "list_arity": 3},
    ),
    (
        (
            'INSERT INTO "app_book" ("title", "author_id") VALUES (%s, %s), (%s, %s) '
            'RETURNING "app_book"."id"'
        ),
        "insert into app_book(title, author_id) values (?, ?), ... returning app_book.id",
        {"list_arity": 2},
    ),
    (
        "INSERT INTO t VALUES (1, now()), (2, now()) ON CONFLICT (a) DO NOTHING",
        "insert into t values (?, now()), ... on conflict (a) do nothing",
        {"list_arity": 2},
    ),
    (
        "INSERT INTO t VALUES ((SELECT 1), ARRAY[1, 2]), ((SELECT 2), ARRAY[3])",
        "insert into t values ((select ?), array[...]), ...",
        {"has_list": True, "list_arity": 2},
    ),
    ("VALUES (1), (2)", "values (?), ...", {"kind": "read", "list_arity": 2}),
    (
        "SELECT * FROM (VALUES (1, 2), (3, 4)) AS v(a, b)",
        "select * from (values (?, ?), ...) as v(a, b)",
        {"list_arity": 2},
    ),
    ("INSERT INTO t VALUES (1), (2", "insert into t values (?), ...", {"list_arity": 2}),
    ("INSERT INTO t VALUES (1),", "insert into t values (?), ...,", {}),
    (
        "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)",
        "insert into t(a) values (?), ... on duplicate key update a = values (a)",
        {},
    ),
    # Comments.
    ("SELECT 1 -- comment", "select ?", {}),
    ("SELECT /* one */ 1 /* two /* nested */ still */ FROM t", "select ? from t", {}),
    ("SELECT 1 /*controller='index',framework='django%3A4.2'*/", "select ?", {}),
    ("SELECT 1 /* unterminated", "select ?", {}),
    ("SELECT 1 -- x\nFROM t", "select ? from t", {}),
    # Spacing and case.
    ("select  A,b\n\tFROM   t WHERE(a=1)", "select a, b from t where (a = ?)", {}),
    ("SELECT COUNT( * ), t . x, MAX(a)FROM t", "select count(*), t.x, max(a) from t", {}),
    (
        "SELECT a||b, a<>b, a!=b, a<=b, a>=b, a->>'k', a#>>'{k}', a@>b, a<@b",
        "select a || b, a <> b, a != b, a <= b, a >= b, a ->> ?, a #>> ?, a @> b, a <@ b",
        {},
    ),
    ("SELECT 1;", "select ?", {}),
    ("; ;SELECT 1;; SELECT 2 ;", "select ?; select ?", {}),
    ("SELECT a...b, a . . . b", "select a ... b, a. . .b", {}),
    # Identifiers.
    ('SELECT "app_book"."id" FROM "app_book"', "select app_book.id from app_book", {}),
    ("SELECT `app_book`.`id` FROM `app_book`", "select app_book.id from app_book", {}),
    (
        "SELECT [id], [dbo].[book].[title] FROM [dbo].[book]",
        "select id, dbo.book.title from dbo.book",
        {},
    ),
    (
        'SELECT "Title", "a b", "x""y", "1st", "true"',
        'select "Title", "a b", "x""y", "1st", "true"',
        {},
    ),
    (
        "SELECT [Order Details].[Unit Price] FROM [Order Details]",
        "select [Order Details].[Unit Price] from [Order Details]",
        {},
    ),
    ('SELECT "café", "ÉTÉ"', 'select café, "ÉTÉ"', {}),
    ("SELECT Café FROM T", "select café from t", {}),
    ('SELECT "unterminated', "select unterminated", {}),
    ('SELECT "unterminated with space', 'select "unterminated with space', {}),
    # Names that vanish.
    ('SAVEPOINT "s140_x1"', "savepoint ?", {"kind": "transaction"}),
    ('RELEASE SAVEPOINT "s140_x1"', "release savepoint ?", {"kind": "transaction"}),
    ("RELEASE s1", "release ?", {"kind": "transaction"}),
    ('ROLLBACK TO SAVEPOINT "s140_x1"', "rollback to savepoint ?", {"kind": "transaction"}),
    ("ROLLBACK WORK TO s1", "rollback work to ?", {"kind": "transaction"}),
    ("ROLLBACK", "rollback", {"kind": "transaction"}),
    (
        'DECLARE "_django_curs_1_sync_1" NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM t',
        "declare ? no scroll cursor with hold for select * from t",
        {"kind": "other"},
    ),
    ('FETCH FORWARD 2000 FROM "_django_curs_1_sync_1"', "fetch forward ? from ?", {}),
    (
        "FETCH c1; FETCH NEXT IN c2; MOVE ABSOLUTE 5 FROM c3",
        "fetch ?; fetch next in ?; move absolute ? from ?",
        {},
    ),
    ('CLOSE "_django_curs_1_sync_1"', "close ?", {}),
    ("CLOSE ALL", "close all", {}),
    ("PREPARE stmt1 (int) AS SELECT $1", "prepare ? (int) as select ?", {}),
    ("EXECUTE stmt1(1)", "execute ? (?)", {}),
    ("DEALLOCATE PREPARE stmt1; DEALLOCATE ALL", "deallocate prepare ?; deallocate all", {}),
    ("PREPARE TRANSACTION 'tx1'", "prepare transaction ?", {}),
    # Kinds.
    ("(SELECT 1) UNION (SELECT 2)", "(select ?) union (select ?)", {"kind": "read"}),
    (
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "with x as (select ?) select * from x",
        {"kind": "read"},
    ),
    (
        "WITH x AS (SELECT id FROM a) DELETE FROM b WHERE id IN (SELECT id FROM x)",
        "with x as (select id from a) delete from b where id in (select id from x)",
        {"kind": "write"},
    ),
    (
        "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t) UPDATE u SET a = 1",
        "with recursive t(n) as (values (?), ... union all select n + ? from t) update u set a = ?",
        {"kind": "write"},
    ),
    (
        "WITH a AS MATERIALIZED (SELECT 1), b AS (SELECT 2) INSERT INTO c SELECT * FROM a",
        "with a as materialized (select ?), b as (select ?) insert into c select * from a",
        {"kind": "write"},
    ),
    ("UPDATE t SET a = 1 WHERE id = 2", "update t set a = ? where id = ?", {"kind": "write"}),
    ("DELETE FROM t", "delete from t", {"kind": "write"}),
    ("CREATE TABLE t (id integer)", "create table t(id integer)", {"kind": "write"}),
    ("BEGIN", "begin", {"kind": "transaction"}),
    ("START TRANSACTION", "start transaction", {"kind": "transaction"}),
    ("COMMIT", "commit", {"kind": "transaction"}),
    ("SHOW search_path", "show search_path", {"kind": "read"}),
    ("EXPLAIN SELECT 1", "explain select ?", {"kind": "read"}),
    ("PRAGMA foreign_keys = ON", "pragma foreign_keys = on", {"kind": "other"}),
    ("SET search_path TO public", "set search_path to public", {"kind": "other"}),
    ("", "", {"kind": "other"}),
    ("  -- only a comment", "", {"kind": "other"}),
    ("SELECT 1; DELETE FROM t", "select ?; delete from t", {"kind": "read"}),
    # Hostile input.
    ("SELECT 'unterminated", "select ?", {}),
    ("SELECT E'ends in a backslash\\", "select ?", {}),
    ("SELECT $tag$ never closed", "select ?", {}),
    ("SELECT `a", "select a", {}),
    ("SELECT [a b", "select [ a b", {}),
    ("SELECT\0a\0FROM\0t WHERE b = 'x\0y'", "select a from t where b = ?", {}),
    ('SELECT "a\0b c"', 'select "a?b c"', {}),
    (b"SELECT \xff\xfe FROM t WHERE x = '\x80'", "select \udcff\udcfe from t where x = ?", {}),
    (b'SELECT "\xc3" FROM \xc3\xa9t\xc3\xa9', "select \udcc3 from été", {}),
    ("(" * 10000 + "1" + ")" * 10000, "(" * 10000 + "?" + ")" * 10000, {"kind": "other"}),
    ("SELECT " + "(" * 10000, "select " + "(" * 10000, {}),
    ("/*" * 5000, "", {}),
    (
        "SELECT " + "x" * (10 << 20),
        "select " + "x" * (MAX_INPUT - 7),
        {"truncated": True, "kind": "read"},
    ),
    ("SELECT " + "x" * (MAX_INPUT - 7), "select " + "x" * (MAX_INPUT - 7), {"truncated": False}),
    ("SELECT 'cut at the limit" + "x" * MAX_INPUT, "select ?", {"truncated": True}),
    ("SELECT '" + "''" * 20000 + "'", "select ?", {}),
    # A typical ORM statement.
    (
        _DJANGO_SELECT,
        (
            "select app_book.id, app_book.title, app_book.author_id, app_book.published "
            "from app_book inner join app_author on (app_book.author_id = app_author.id) "
            "where (app_book.id = ? and app_author.name = ?) order by app_book.title asc limit ?"
        ),
        {"kind": "read"},
    ),
]

SAME_SHAPE = [
    ("a=1", "a = 1"),
    ("a = 1", "a  =\n 1"),
    ("SELECT * FROM t WHERE id = 1", "select  *  from T where ID = 'x'"),
    ('SELECT "app_book"."id" FROM "app_book"', "SELECT app_book.id FROM app_book"),
    ("SELECT * FROM t WHERE id IN (1, 2)", "SELECT * FROM t WHERE id IN (%s, %s, %s, %s)"),
    ("INSERT INTO t (a) VALUES (1)", "INSERT INTO t (a) VALUES (1), (2), (3)"),
    ('SAVEPOINT "s140_x1"', 'SAVEPOINT "s77_x9"'),
    ("SELECT 1 /* sqlcommenter tags */", "SELECT 2 -- other tags"),
    ("SELECT ?", "SELECT $1"),
    ("SELECT :a, %(b)s", "SELECT @c, %s"),
    ("SELECT a FROM t;", "SELECT a FROM t"),
    ("SELECT a = -1", "SELECT a = 1"),
]

DIFFERENT_SHAPE = [
    ("SELECT * FROM t WHERE id IN (%s)", "SELECT * FROM t WHERE id = %s"),
    ("SELECT * FROM t WHERE id IN (%s)", "SELECT * FROM t WHERE id IN (%s, %s)"),
    ("SELECT a, b FROM t", "SELECT b, a FROM t"),
    ('SELECT "Title" FROM t', "SELECT title FROM t"),
    ("SELECT a FROM t WHERE a IS NULL", "SELECT a FROM t WHERE a = 1"),
    ("SELECT a - 1", "SELECT a"),
]
