"""URLs of the test project, one per behaviour the tests pin."""

from django.urls import path

from .library import views

urlpatterns = [
    path("books/", views.book_authors),
    path("books/select-related/", views.book_authors_select_related),
    path("books/titles-deferred/", views.deferred_titles),
    path("books/slow/", views.slow_book),
    path("books/async/", views.async_book_authors),
    path("authors/<int:pk>/twice/", views.author_twice),
    path("authors/<int:pk>/twice-with-write/", views.author_twice_with_write),
    path("authors/<int:pk>/both-databases/", views.author_in_both_databases),
    path("authors/profiles/", views.author_profiles),
    path("leak/", views.leaky),
    path("cached/<int:key>/", views.cached),
    path("reqscope/memory-growth/", views.memory_growth),
]
