"""What the MEM and OBJ allocator domains call first, and another tool's hooks to chain there.

Used by the memory tests (tests/unit/test_memory.py, and the child interpreters some of them
run, with this folder on their path) and by bench/memory_overhead.py, whose floor variant is
these same pass-through hooks.
"""

import ctypes
import pathlib
import subprocess
import sysconfig

PASSTHROUGH_SOURCE = pathlib.Path(__file__).resolve().parent / "passthrough_allocator.c"


class AllocatorFunctions(ctypes.Structure):
    """PyMemAllocatorEx."""

    _fields_ = [(name, ctypes.c_void_p) for name in ("ctx", "malloc", "calloc", "realloc", "free")]


def allocators_now():
    """What the MEM and OBJ domains call first (PyMem_GetAllocator), as tuples of
    (ctx, malloc, calloc, realloc, free), MEM's first."""
    found = []
    for domain in (1, 2):  # PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ.
        functions = AllocatorFunctions()
        ctypes.pythonapi.PyMem_GetAllocator(ctypes.c_int(domain), ctypes.byref(functions))
        found.append(tuple(getattr(functions, name) for name, _ in functions._fields_))
    return found


def compile_passthrough(folder):
    """Compiles passthrough_allocator.c into `folder`; returns the library's path (load it with
    ctypes.PyDLL: its calls need the GIL held)."""
    library = pathlib.Path(folder) / "passthrough_allocator.so"
    library.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra",
                    f"-I{sysconfig.get_paths()['include']}", str(PASSTHROUGH_SOURCE), "-o",
                    str(library)], check=True)
    return library
