"""8 threads, each in memory scopes, allocate objects and hand half of them to the others
through a queue, so most frees happen on another thread than the allocation, while scopes end
and the leak view is read and reset. Runs for argv[1] seconds; prints a summary line."""

import queue
import random
import sys
import threading
import time

import reqscope

THREADS = 8
seconds = float(sys.argv[1])
handoff = queue.Queue(maxsize=20_000)
deadline = time.monotonic() + seconds
scopes = [0] * THREADS
errors = []


def allocate(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(rng.randrange(1, 20_000))
    if kind == 1:
        return [object() for _ in range(rng.randrange(1, 50))]
    if kind == 2:
        return {str(i): i for i in range(rng.randrange(1, 50))}
    return "x" * rng.randrange(1, 5_000)


def worker(number):
    rng = random.Random(number)
    try:
        while time.monotonic() < deadline:
            rate = rng.choice([1, 4096, 64 * 1024])
            with reqscope.profile(name=f"worker {number % 3}", memory=True, memory_rate=rate,
                                  sql=False) as scope:
                kept = []
                for _ in range(200):
                    item = allocate(rng)
                    if rng.random() < 0.5:
                        try:
                            handoff.put_nowait(item)
                        except queue.Full:
                            pass
                    else:
                        kept.append(item)
                    try:
                        handoff.get_nowait()  # Freed here, allocated on another thread.
                    except queue.Empty:
                        pass
                if rng.random() < 0.02:
                    reqscope.memory_growth(everything=True, reset=rng.random() < 0.5)
            memory = scope.report.to_dict()["memory"]
            assert memory["allocated_bytes"] >= memory["freed_bytes"] >= 0, memory
            scopes[number] += 1
    except BaseException as error:  # Reported by the main thread.
        errors.append(repr(error))


threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(seconds + 60)
alive = [thread.name for thread in threads if thread.is_alive()]
print(f"scopes={sum(scopes)} min_per_thread={min(scopes)} errors={errors} alive={alive}")
sys.exit(1 if errors or alive else 0)
