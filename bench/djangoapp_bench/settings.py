"""Django settings for the benchmark: no middleware, no URLs, DEBUG off.

DEBUG stays off so that Django's own query log (``connection.queries``) is not part of any
figure. Only the toolbar's SQL panel is configured; zeal is not an installed app, because its
``ready()`` would patch the ORM for every variant (``peers.ZealPatches`` applies it instead).
"""

SECRET_KEY = "reqscope-bench"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",  # zeal's patches import its generic relations.
    "debug_toolbar",
    "djangoapp_bench",
]
DATABASES = {
    alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    for alias in ("default", "reqscope")
}
DEBUG_TOOLBAR_PANELS = ["debug_toolbar.panels.sql.SQLPanel"]
