"""Readers of a scope's SQL report that many tests share."""


def sql_section(scope):
    return scope.report.to_dict()["sql"]


def findings_of(scope, kind):
    return [f for f in sql_section(scope)["findings"] if f["kind"] == kind]


def query_named(scope, fragment):
    """The one query whose normalized text contains ``fragment``."""
    matches = [q for q in sql_section(scope)["queries"] if fragment in q["text"]]
    assert len(matches) == 1, [q["text"] for q in sql_section(scope)["queries"]]
    return matches[0]
