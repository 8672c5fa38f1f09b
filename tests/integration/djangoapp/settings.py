"""Settings of the test project: two SQLite file databases, the ``library`` app, reqscope's
middleware on. The database directory comes from ``DJANGOAPP_DATABASE_DIR``."""

import os
from pathlib import Path

DATABASE_DIR = Path(os.environ["DJANGOAPP_DATABASE_DIR"])

SECRET_KEY = "reqscope-tests-only"
DEBUG = False
REQSCOPE_ENABLED = True
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "djangoapp.urls"
INSTALLED_APPS = ["djangoapp.library"]
MIDDLEWARE = ["reqscope.django.ReqscopeMiddleware"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATABASE_DIR / "default.db"},
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATABASE_DIR / "other.db"},
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
