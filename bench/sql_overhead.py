"""SQL hook overhead: microseconds that recording adds to one cheap query, beside the peers.

Every workload is a primary-key lookup on a 1,000-row in-memory SQLite table, the cheapest
query an application runs, so the hook's own cost is as large a share as it can be:

- sqlite3: ``cursor.execute("SELECT v FROM t WHERE id = ?", (id,))`` then ``fetchone()`` on
  one reused cursor, with no reqscope, with reqscope installed but no scope active (idle), and
  inside a scope;
- Django ORM: ``Book.objects.filter(pk=id).first()``, plain, with reqscope idle and active,
  with django-debug-toolbar's SQL panel recording, and inside zeal's context;
- Django raw cursor: ``connection.cursor()``, ``execute`` and ``fetchone`` per query, the same
  variants but zeal, which watches the ORM only and never sees raw SQL.

reqscope is installed as an application installs it (``reqscope.install()``, which hooks both
sqlite3 and Django), and its variants run on connections opened after that; the baseline and
the peers run on connections opened before, which reqscope does not touch. Each batch of
queries is one "request": a fresh reqscope scope, a fresh toolbar, a fresh zeal context,
entered before the clock starts. Before timing, each variant is checked to really record.
"""

import contextlib
import datetime
import os
import sqlite3
import time

import django
from django.db import connections

import reqscope
from djangoapp_bench import peers
from interleave import compare
from reqscope.hooks import django as django_hook
from table import Table

# Many short batches rather than a few long ones: a burst of load from another process then
# spoils a few rounds, which the median drops, instead of the whole of one variant's batch.
# (queries per batch, rounds) per workload; each round takes well under a second.
SQLITE_BATCHES = (5000, 101)
ORM_BATCHES = (25, 601)
RAW_CURSOR_BATCHES = (100, 201)
TABLE_ROWS = 1000

SQLITE_QUERY = "SELECT v FROM t WHERE id = ?"


def primary_keys(count):
    """``count`` ids that cycle over the table, so every query finds its row."""
    return [index % TABLE_ROWS + 1 for index in range(count)]


def profile_scope():
    return reqscope.profile(name="bench", on_report=None)


def recorded_count(scope):
    return scope.report.to_dict()["sql"]["count"]


# ---------------- sqlite3 ----------------


def sqlite3_database(connect):
    connection = connect(":memory:")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    connection.executemany("INSERT INTO t VALUES (?, ?)",
                           [(key, f"value {key}") for key in range(1, TABLE_ROWS + 1)])
    connection.commit()
    return connection


def sqlite3_batch(connection, instrumentation, count):
    """A batch function: ``count`` lookups inside ``instrumentation()``; us per query."""
    keys = [(key,) for key in primary_keys(count)]

    def batch():
        cursor = connection.cursor()
        execute, fetchone = cursor.execute, cursor.fetchone
        with instrumentation():
            start = time.perf_counter_ns()
            for parameters in keys:
                execute(SQLITE_QUERY, parameters)
                fetchone()
            elapsed = time.perf_counter_ns() - start
        return elapsed / count / 1000
    return batch


def sqlite3_variants(plain, hooked, count):
    """Batches of ``count`` lookups on a connection opened before ``reqscope.install()``
    (the baseline) and on one opened after it (the other variants)."""
    with profile_scope() as scope:
        sqlite3_batch(plain, contextlib.nullcontext, 10)()
    if recorded_count(scope) != 0:
        raise AssertionError("reqscope recorded the baseline's sqlite3 connection")
    with profile_scope() as scope:
        sqlite3_batch(hooked, contextlib.nullcontext, 10)()
    if recorded_count(scope) != 10:
        raise AssertionError(f"reqscope recorded {recorded_count(scope)} of 10 sqlite3 queries")
    return {
        "sqlite3, no reqscope": sqlite3_batch(plain, contextlib.nullcontext, count),
        "reqscope installed, idle": sqlite3_batch(hooked, contextlib.nullcontext, count),
        "reqscope active": sqlite3_batch(hooked, profile_scope, count),
    }


# ---------------- Django ----------------


def setup_django():
    os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp_bench.settings"
    django.setup()


def django_database(alias):
    """Opens the ``alias`` connection and fills its tables."""
    from djangoapp_bench.models import Author, Book

    with connections[alias].schema_editor() as editor:
        editor.create_model(Author)
        editor.create_model(Book)
    authors = Author.objects.using(alias).bulk_create(
        Author(name=f"Author {index}") for index in range(50))
    Book.objects.using(alias).bulk_create(
        Book(title=f"Book {index}", author=authors[index % len(authors)],
             published=datetime.date(2000 + index % 25, 1, 1))
        for index in range(TABLE_ROWS))


def orm_lookups(alias, keys):
    from djangoapp_bench.models import Book

    books = Book.objects.using(alias)
    for key in keys:
        books.filter(pk=key).first()


def raw_cursor_lookups(alias, keys):
    from djangoapp_bench.models import Book

    connection = connections[alias]
    sql = f"SELECT title FROM {Book._meta.db_table} WHERE id = %s"
    for key in keys:
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            cursor.fetchone()


def django_batch(workload, alias, instrumentation, count):
    """A batch function: ``workload`` on ``alias`` inside ``instrumentation()``; us per query."""
    keys = primary_keys(count)

    def batch():
        with instrumentation():
            start = time.perf_counter_ns()
            workload(alias, keys)
            elapsed = time.perf_counter_ns() - start
        return elapsed / count / 1000
    return batch


def check_django_variants(workload, zeal):
    """Checks that each variant records the queries it should, and the baseline none."""
    from djangoapp_bench.models import Book

    keys = primary_keys(10)
    with profile_scope() as scope:
        workload("default", keys)
    if recorded_count(scope) != 0:
        raise AssertionError("reqscope recorded the baseline's Django connection")
    with profile_scope() as scope:
        workload("reqscope", keys)
    if recorded_count(scope) != len(keys):
        raise AssertionError(f"reqscope recorded {recorded_count(scope)} of {len(keys)} queries")
    with peers.debug_toolbar_sql_panel() as panel:
        workload("default", keys)
    if len(panel._queries) != len(keys):
        raise AssertionError(f"the toolbar's SQL panel saw {len(panel._queries)} of "
                             f"{len(keys)} queries")
    if zeal is not None:
        from zeal import NPlusOneError

        with zeal.active():
            try:
                for book in Book.objects.using("default")[:3]:
                    book.author
            except NPlusOneError:
                pass
            else:
                raise AssertionError("zeal did not flag an N+1 loop: its patches are not on")


def django_variants(workload, count, zeal):
    """Batches of ``count`` runs of ``workload``; zeal's only when ``zeal`` (a ZealPatches)."""
    check_django_variants(workload, zeal)
    variants = {
        "Django, no reqscope": django_batch(workload, "default", contextlib.nullcontext, count),
        "reqscope installed, idle": django_batch(workload, "reqscope", contextlib.nullcontext,
                                                 count),
        "reqscope active": django_batch(workload, "reqscope", profile_scope, count),
        "django-debug-toolbar SQL panel": django_batch(workload, "default",
                                                       peers.debug_toolbar_sql_panel, count),
    }
    if zeal is not None:
        variants["zeal context"] = django_batch(workload, "default", zeal.active, count)
    return variants


# ---------------- Tables ----------------


def overhead_table(title, outcomes, baseline, peer_names, rounds, notes=()):
    """A table of ``interleave.Outcome``s; the ratio column compares reqscope to each peer.

    An added cost whose confidence interval straddles zero is marked "~" (not resolved from
    the noise), and a ratio involving one is not given.
    """
    columns = ["variant", "us/query", "added us", "[95% CI]"]
    if peer_names:
        columns.append("reqscope-added / peer-added")
    table = Table(title, columns, notes=[
        f"Medians of {rounds} interleaved rounds. 'added' is the median of the per-round "
        "differences to the baseline, with its 95% confidence interval;",
        "~ marks an added cost the noise hides (interval across zero).", *notes])
    reqscope_active = outcomes["reqscope active"]
    for name, outcome in outcomes.items():
        cells = [name, f"{outcome.median:.2f}"]
        if name == baseline:
            cells += ["-", ""]
        else:
            marker = "" if outcome.added_resolved else "~"
            cells += [f"{marker}{outcome.added_median:+.2f}",
                      f"[{outcome.added_low:+.2f}, {outcome.added_high:+.2f}]"]
        if peer_names:
            if name not in peer_names:
                cells.append("")
            elif (outcome.added_resolved and reqscope_active.added_resolved
                  and outcome.added_median > 0):
                cells.append(f"{reqscope_active.added_median / outcome.added_median:.2f}")
            else:
                cells.append("not resolved")
        table.add_row(*cells)
    return table


def open_databases():
    """Opens the baseline's databases, installs reqscope, then opens the recorded ones.

    Returns the plain and the hooked sqlite3 connections. ``reqscope.install()`` wraps the
    Django connections already open in this thread, so the baseline's wrapper is taken off.
    """
    setup_django()
    django_database("default")
    plain = sqlite3_database(sqlite3.connect)
    reqscope.install()
    django_hook.unwrap_connection(connections["default"])
    django_database("reqscope")
    hooked = sqlite3_database(sqlite3.connect)
    return plain, hooked


def run():
    plain, hooked = open_databases()
    sqlite3_count, sqlite3_rounds = SQLITE_BATCHES
    sqlite3_outcomes = compare(sqlite3_variants(plain, hooked, sqlite3_count),
                               "sqlite3, no reqscope", sqlite3_rounds)
    zeal = peers.ZealPatches()
    orm_count, orm_rounds = ORM_BATCHES
    orm_outcomes = compare(django_variants(orm_lookups, orm_count, zeal), "Django, no reqscope",
                           orm_rounds)
    raw_count, raw_rounds = RAW_CURSOR_BATCHES
    raw_outcomes = compare(django_variants(raw_cursor_lookups, raw_count, None),
                           "Django, no reqscope", raw_rounds)
    return [
        overhead_table(
            f"SQL hook overhead, sqlite3 (in-memory PK lookup + fetchone, {sqlite3_count} "
            "queries per batch)", sqlite3_outcomes, "sqlite3, no reqscope", (),
            sqlite3_rounds, notes=["Target: reqscope active adds <= 2 us per query."]),
        overhead_table(
            f"SQL hook overhead, Django ORM (Book.objects.filter(pk=...).first(), "
            f"{orm_count} queries per batch)", orm_outcomes, "Django, no reqscope",
            ("django-debug-toolbar SQL panel", "zeal context"), orm_rounds),
        overhead_table(
            f"SQL hook overhead, Django raw cursor (cursor() + execute + fetchone, "
            f"{raw_count} queries per batch)", raw_outcomes, "Django, no reqscope",
            ("django-debug-toolbar SQL panel",), raw_rounds,
            notes=["zeal is left out: it patches the ORM and never sees raw SQL."]),
    ]
