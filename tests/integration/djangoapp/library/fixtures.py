"""The tables and rows every view expects: 10 authors, each with a profile and one book.

SQLite connections get ``slow_sleep(ms)`` from the app itself (``apps.py``); on PostgreSQL it
is created here as a SQL function over ``pg_sleep``.
"""

from django.core.management import call_command
from django.db import connections

from .models import Author, AuthorProfile, Book

AUTHORS = 10

SLOW_SLEEP_POSTGRESQL = """
    CREATE OR REPLACE FUNCTION slow_sleep(milliseconds integer) RETURNS integer
    LANGUAGE sql VOLATILE AS $$ SELECT 1 FROM pg_sleep(milliseconds / 1000.0) $$
"""


def setup_database(alias="default"):
    """Creates the tables on ``alias`` and fills them."""
    call_command("migrate", run_syncdb=True, database=alias, verbosity=0)
    if connections[alias].vendor == "postgresql":
        with connections[alias].cursor() as cursor:
            cursor.execute(SLOW_SLEEP_POSTGRESQL)
    for number in range(1, AUTHORS + 1):
        author = Author.objects.using(alias).create(pk=number, name=f"author {number}")
        AuthorProfile.objects.using(alias).create(author=author, bio=f"bio {number}")
        Book.objects.using(alias).create(pk=number, author=author, title=f"book {number}")
