"""A small real Django project for reqscope's integration tests: one app, ``library``.

``settings`` reads the directory for its two SQLite files (aliases "default" and "other") from
``DJANGOAPP_DATABASE_DIR``; ``setup_database()`` in ``library.fixtures`` creates the tables and
the rows the views expect.
"""
