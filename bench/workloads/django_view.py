"""A Django view served through the test client: a little ORM on in-memory SQLite, some Python.

It reuses bench/djangoapp_bench (settings, two in-memory databases, the Book and Author models)
and adds the one URL this module routes, ``/books/<database alias>/``: the view reads 100
books with their authors and the authors' book counts, then the oldest book (three queries),
and builds a JSON catalogue by decade in Python. A request takes about 2 ms, most of it in
Django's own Python. The alias in the URL lets a benchmark serve the same view from a
database reqscope hooks and from one it does not.
"""

import datetime
import os

from django.urls import path

BOOKS = 1000
AUTHORS = 50


def catalogue(request, alias):
    from django.db.models import Count
    from django.http import JsonResponse
    from django.utils.text import slugify

    from djangoapp_bench.models import Author, Book

    books = list(Book.objects.using(alias).select_related("author")
                 .filter(published__gte=datetime.date(2010, 1, 1)).order_by("title")[:100])
    book_counts = dict(Author.objects.using(alias).annotate(books=Count("book"))
                       .values_list("name", "books"))
    by_decade = {}
    for book in books:
        decade = book.published.year // 10 * 10
        by_decade.setdefault(decade, []).append({
            "title": book.title,
            "slug": slugify(book.title),
            "author": book.author.name,
            "author_books": book_counts[book.author.name],
        })
    for entries in by_decade.values():
        entries.sort(key=lambda entry: (entry["author"], entry["slug"]))
    oldest = Book.objects.using(alias).order_by("published").first()
    decades = {str(decade): entries for decade, entries in by_decade.items()}
    return JsonResponse({"oldest": oldest.title, "decades": decades})


urlpatterns = [path("books/<str:alias>/", catalogue)]


def url(alias):
    return f"/books/{alias}/"


def setup_django():
    """Configures Django with this module's URL; returns a test client."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp_bench.settings"
    import django
    from django.test import Client
    from django.test.utils import override_settings

    django.setup()
    override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"]).enable()
    return Client()


def fill_database(alias):
    """Opens the ``alias`` connection, creates the tables and fills them."""
    from django.db import connections

    from djangoapp_bench.models import Author, Book

    with connections[alias].schema_editor() as editor:
        editor.create_model(Author)
        editor.create_model(Book)
    authors = Author.objects.using(alias).bulk_create(
        Author(name=f"Author {index}") for index in range(AUTHORS))
    Book.objects.using(alias).bulk_create(
        Book(title=f"Book {index}", author=authors[index % AUTHORS],
             published=datetime.date(2000 + index % 25, 1 + index % 12, 1))
        for index in range(BOOKS))
