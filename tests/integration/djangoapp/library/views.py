"""Views that make the query patterns reqscope must find, and their fixed versions."""

import functools

from django.db import connections
from django.http import JsonResponse

import reqscope

from .models import Author, Book


def database_of(request):
    """The database alias to use: ``?database=`` (default: "default")."""
    return request.GET.get("database", "default")


def book_authors(request):
    """N+1: one query for the books, then one per book for its author."""
    names = []
    for book in Book.objects.using(database_of(request)).order_by("id"):
        names.append(book.author.name)
    return JsonResponse({"authors": names})


def book_authors_select_related(request):
    """The fix: the authors come with the books, in one query."""
    names = []
    for book in Book.objects.select_related("author").order_by("id"):
        names.append(book.author.name)
    return JsonResponse({"authors": names})


def deferred_titles(request):
    """N+1 through a deferred field: each title is loaded on first access."""
    titles = []
    for book in Book.objects.only("id").order_by("id"):
        titles.append(book.title)
    return JsonResponse({"titles": titles})


def author_profiles(request):
    """N+1 through the reverse side of a one-to-one relation."""
    bios = []
    for author in Author.objects.order_by("id"):
        bios.append(author.profile.bio)
    return JsonResponse({"bios": bios})


def author_twice(request, pk):
    """The same read twice: a duplicate."""
    first = Author.objects.get(pk=pk)
    second = Author.objects.get(pk=pk)
    return JsonResponse({"names": [first.name, second.name]})


def author_twice_with_write(request, pk):
    """The same read around a write: the second read may see new data, so no duplicate."""
    first = Author.objects.get(pk=pk)
    Author.objects.filter(pk=pk).update(name=first.name)
    second = Author.objects.get(pk=pk)
    return JsonResponse({"names": [first.name, second.name]})


def author_in_both_databases(request, pk):
    """The same read on two databases: two different results, so no duplicate."""
    default = Author.objects.get(pk=pk)
    other = Author.objects.using("other").get(pk=pk)
    return JsonResponse({"names": [default.name, other.name]})


def slow_book(request):
    """One read that takes 150 ms, through the database's ``slow_sleep(ms)`` function."""
    with connections[database_of(request)].cursor() as cursor:
        cursor.execute("SELECT id, title FROM library_book WHERE id = %s AND slow_sleep(%s) = 1",
                       [1, 150])
        rows = cursor.fetchall()
    return JsonResponse({"books": [title for _id, title in rows]})


async def async_book_authors(request):
    """An async view over the async ORM; the authors come with the books."""
    names = [book.author.name
             async for book in Book.objects.select_related("author").order_by("id")]
    return JsonResponse({"authors": names})


LEAKED = []


def leaky(request):
    """A leak: every request appends 10 KB to a module-level list."""
    LEAKED.append(bytes(10_000))
    return JsonResponse({"kept": len(LEAKED)})


@functools.lru_cache(maxsize=32)
def rendered_page(key):
    return bytes(10_000)


def cached(request, key):
    """A bounded LRU cache: it fills, then evicts; it never grows past 32 entries."""
    return JsonResponse({"size": len(rendered_page(key))})


def memory_growth(request):
    """What reqscope's leak view says now, every line it follows, as JSON."""
    return JsonResponse({"sites": reqscope.memory_growth(everything=True)})
