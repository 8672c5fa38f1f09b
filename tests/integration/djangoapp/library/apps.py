"""The ``library`` app. Its SQLite connections get ``slow_sleep(ms)``, a function that sleeps
and returns 1, so a test can run a statement slow enough to be a "slow" finding."""

import time

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def slow_sleep(milliseconds):
    time.sleep(milliseconds / 1000)
    return 1


def add_slow_sleep(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_function("slow_sleep", 1, slow_sleep)


class LibraryConfig(AppConfig):
    name = "djangoapp.library"
    label = "library"

    def ready(self):
        connection_created.connect(add_slow_sleep, dispatch_uid="djangoapp.library.slow_sleep")
