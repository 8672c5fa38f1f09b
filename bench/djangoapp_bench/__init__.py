"""A minimal Django project for the SQL overhead benchmark, and the peers switched on in it.

``settings`` holds two in-memory SQLite databases with the same tables: ``default``, which
the baseline and the peers use, and ``reqscope``, opened after ``reqscope.install()`` so that
reqscope records it the way it records any application's database. ``models`` holds the two
tiny models; ``peers`` switches django-debug-toolbar's SQL panel and zeal on for a batch.
"""
