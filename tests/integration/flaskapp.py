"""A Flask app on a SQLite file, profiled by reqscope.flask (the WSGI middleware, requests named
by URL rule); served by gunicorn in test_servers.py. ``/authors`` has an N+1 loop and
``/authors/<id>`` a duplicate read."""

import os
import sqlite3

from flask import Flask, jsonify

import reqscope
import reqscope.flask

reqscope.install(only=["sqlite3"])

app = Flask(__name__)
reqscope.flask.install(app)


def connect():
    return sqlite3.connect(os.environ["FLASKAPP_DATABASE"])


@app.get("/authors")
def author_names():
    connection = connect()
    ids = [row[0] for row in connection.execute("SELECT id FROM author").fetchall()]
    names = []
    for author_id in ids:
        names.append(connection.execute("SELECT name FROM author WHERE id = ?",
                                        (author_id,)).fetchone()[0])
    connection.close()
    return jsonify(names)


@app.get("/authors/<int:author_id>")
def author_twice(author_id):
    connection = connect()
    first = connection.execute("SELECT name FROM author WHERE id = ?", (author_id,)).fetchone()
    second = connection.execute("SELECT name FROM author WHERE id = ?", (author_id,)).fetchone()
    connection.close()
    return jsonify([first[0], second[0]])

