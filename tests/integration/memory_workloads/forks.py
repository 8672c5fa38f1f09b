"""Forks 200 children while the memory hooks are installed and a memory scope is active in the
parent (and another on a second thread); each child profiles memory on its own, frees objects
the parent sampled, reads the leak view, and exits. Prints how many children succeeded."""

import os
import sys
import threading

import reqscope

CHILDREN = 200
inherited = [bytes(5_000) for _ in range(200)]
stop = threading.Event()


def other_thread():
    with reqscope.profile(name="background", memory=True, memory_rate=4096, sql=False):
        while not stop.is_set():
            [bytes(1000) for _ in range(100)]
            stop.wait(0.001)


def child():
    inherited.clear()  # Frees of allocations the parent sampled.
    with reqscope.profile(name="child", memory=True, memory_rate=1, sql=False) as scope:
        kept = [bytes(1_000) for _ in range(100)]
    memory = scope.report.to_dict()["memory"]
    if not 100_000 <= memory["net_bytes"] < 120_000:
        print("child net bytes", memory["net_bytes"], flush=True)
        return 3
    reqscope.memory_growth(everything=True)
    del kept
    return 0


background = threading.Thread(target=other_thread)
background.start()
succeeded = 0
with reqscope.profile(name="parent", memory=True, memory_rate=4096, sql=False):
    for _ in range(CHILDREN):
        pid = os.fork()
        if pid == 0:
            status = 2
            try:
                status = child()
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        succeeded += os.waitstatus_to_exitcode(status) == 0
stop.set()
background.join()
print(f"succeeded={succeeded}")
sys.exit(0 if succeeded == CHILDREN else 1)
