"""Builds reqscope's one extension, reqscope._core, from the C folders.

The native build reads CPython's internal frame and context structs (common/compat.h), laid out
per version for CPython 3.11, 3.12 and 3.13. On any other version, or with REQSCOPE_PORTABLE=1,
the portable build (macro RS_PORTABLE) includes no internal header: the files below replace the
native ones, the sampler takes the GIL at 100 Hz at most, and the memory tracer is off (README,
"Supported Pythons").

REQSCOPE_SANITIZE=1 adds ASan and UBSan (used by `make asan`); REQSCOPE_DEBUG=1 keeps asserts.
"""

import glob
import os
import sys

from setuptools import Extension, setup

C_FOLDERS = ["common", "dbhooks", "memtrace", "report", "sampler"]

# Files that read CPython internals, or serve only those that do, and their portable stand-ins.
NATIVE_ONLY = {"dbhooks/callsite_capture.c", "memtrace/byte_sampler.c", "memtrace/growth.c",
               "memtrace/hooks.c", "memtrace/live_table.c", "sampler/code_cache.c",
               "sampler/context_reader.c", "sampler/safe_names.c", "sampler/stack_reader.c"}
PORTABLE_ONLY = {"dbhooks/callsite_capture_portable.c", "memtrace/unsupported.c",
                 "sampler/portable_context.c", "sampler/portable_gil.c",
                 "sampler/portable_walker.c"}

portable = (sys.version_info[:2] not in {(3, 11), (3, 12), (3, 13)}
            or os.environ.get("REQSCOPE_PORTABLE") == "1")
left_out = NATIVE_ONLY if portable else PORTABLE_ONLY
sources = sorted(src for folder in C_FOLDERS for src in glob.glob(f"{folder}/*.c")
                 if src not in left_out)
headers = sorted(header for folder in C_FOLDERS for header in glob.glob(f"{folder}/*.h"))
compile_args = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                "-Wno-missing-field-initializers", "-fvisibility=hidden"]
link_args = []
macros = [] if os.environ.get("REQSCOPE_DEBUG") else [("NDEBUG", "1")]
if portable:
    macros.append(("RS_PORTABLE", "1"))
if os.environ.get("REQSCOPE_SANITIZE"):
    sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=undefined"]
    compile_args += sanitize + ["-O1", "-g"]
    link_args += sanitize
    macros = [macro for macro in macros if macro[0] != "NDEBUG"]

setup(
    ext_modules=[
        Extension(
            "reqscope._core",
            sources=sources,
            depends=headers,  # A changed header rebuilds the extension.
            include_dirs=C_FOLDERS,
            define_macros=macros,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    ],
)
