"""An allocation-heavy pure-Python workload: the worst case for a memory tracer.

One run builds 5,000 small records (a dict, two strs, a list and a float each), indexes them
by name, renders them to text, groups them, and drops it all: about 60,000 allocations and
frees, a few MB in all, in a few milliseconds on CPython 3.11.
"""

ROWS = 5000


def make_row(index):
    return {"id": index, "name": f"user{index}", "tags": [index % 7, index % 11],
            "score": index * 0.5}


def run_once():
    """One run; returns a small result so that nothing is optimised away."""
    rows = [make_row(index) for index in range(ROWS)]
    by_name = {row["name"]: row for row in rows}
    text = ",".join(f"{row['id']}:{row['name']}:{row['score']}" for row in rows)
    groups = {}
    for row in rows:
        groups.setdefault(row["id"] % 50, []).append(row["name"].upper())
    return len(text) + len(by_name) + sum(len(names) for names in groups.values())
