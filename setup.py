"""Builds reqscope's one extension, reqscope._core, from the C folders.

REQSCOPE_SANITIZE=1 adds ASan and UBSan (used by `make asan`); REQSCOPE_DEBUG=1 keeps asserts.
"""

import glob
import os

from setuptools import Extension, setup

C_FOLDERS = ["common", "dbhooks", "memtrace", "report", "sampler"]

sources = sorted(src for folder in C_FOLDERS for src in glob.glob(f"{folder}/*.c"))
compile_args = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                "-Wno-missing-field-initializers", "-fvisibility=hidden"]
link_args = []
macros = [] if os.environ.get("REQSCOPE_DEBUG") else [("NDEBUG", "1")]
if os.environ.get("REQSCOPE_SANITIZE"):
    sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                "-fno-sanitize-recover=undefined"]
    compile_args += sanitize + ["-O1", "-g"]
    link_args += sanitize
    macros = []

setup(
    ext_modules=[
        Extension(
            "reqscope._core",
            sources=sources,
            include_dirs=C_FOLDERS,
            define_macros=macros,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    ],
)
