"""A CPU-bound, call-heavy pure-Python workload: the worst case for a profiler that hooks calls.

One run computes a recursive Fibonacci number (about 200,000 tiny calls), counts and
ranks words through small helper functions, and folds the result into lists and dicts; it
takes a few tens of milliseconds on CPython 3.11 and never waits.
"""

FIBONACCI_N = 26
WORD_COUNT = 50000
DISTINCT_WORDS = 997


def fibonacci(n):
    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)


def word(index):
    return f"w{index * 7919 % DISTINCT_WORDS}"


def count_words(words):
    counts = {}
    for item in words:
        counts[item] = counts.get(item, 0) + 1
    return counts


def rank_key(entry):
    text, count = entry
    return (-count, len(text), text)


def buckets_by_length(counts):
    buckets = {}
    for text, count in counts.items():
        buckets.setdefault(len(text), []).append(count)
    return {length: sum(values) for length, values in buckets.items()}


def run_once():
    """One run; returns a small result so that nothing is optimised away."""
    words = [word(index) for index in range(WORD_COUNT)]
    counts = count_words(words)
    ranked = sorted(counts.items(), key=rank_key)
    buckets = buckets_by_length(counts)
    return fibonacci(FIBONACCI_N) + len(ranked) + sum(buckets.values())
