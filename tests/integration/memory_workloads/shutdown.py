"""Interpreter shutdown with the memory hooks installed: a daemon thread keeps allocating inside
a memory scope, an allocation sampled by a finished scope is still alive, and the main thread
exits from inside an active memory scope (argv[1]: "exit" calls sys.exit there, "return" falls
off the end of the module after leaving a scope open in a global)."""

import sys
import threading

import reqscope


def allocate_forever():
    with reqscope.profile(name="daemon", memory=True, memory_rate=1024, sql=False):
        while True:
            [bytes(100) for _ in range(100)]


threading.Thread(target=allocate_forever, daemon=True).start()
LEFT = []
for _ in range(30):  # Past the warm-up: the leak view holds allocations at exit.
    with reqscope.profile(name="leaky", memory=True, memory_rate=1, sql=False):
        LEFT.append(bytes(1_000))
if sys.argv[1] == "exit":
    with reqscope.profile(name="main", memory=True, memory_rate=1, sql=False):
        sys.exit(0)
OPEN = reqscope.profile(name="open", memory=True, memory_rate=1, sql=False)
OPEN.__enter__()
print("end of module")
