"""Build the Cython extensions of fastws.

Every ``fastws/**/*.pyx`` becomes its own extension module, compiled with one ``cythonize``
call and the global directives below. Environment switches:

- ``FASTWS_ANNOTATE=1``  write Cython's annotated HTML next to each ``.pyx`` (profiling aid).
- ``FASTWS_DEBUG=1``     ``-O0 -g`` and bounds/wraparound checks back on.
- ``FASTWS_COVERAGE=1``  ``linetrace`` + ``CYTHON_TRACE_NOGIL`` for coverage of Cython code.
- ``FASTWS_ONLY=a,b``    build only the named modules (``parser``, ``book``...), for quick
                         rebuilds while one module is being worked on.
"""
import glob
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


DEBUG = _flag("FASTWS_DEBUG")
COVERAGE = _flag("FASTWS_COVERAGE")
ANNOTATE = _flag("FASTWS_ANNOTATE")
ONLY = {m.strip() for m in os.environ.get("FASTWS_ONLY", "").split(",") if m.strip()}

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if COVERAGE:
    directives["linetrace"] = True
    macros += [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]

if sys.platform == "win32":
    compile_args = ["/O2"]
else:
    compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]

extensions = []
for path in sorted(glob.glob("fastws/**/*.pyx", recursive=True)):
    module = path[:-4].replace(os.sep, "/").replace("/", ".")
    if ONLY and module.rsplit(".", 1)[-1] not in ONLY:
        continue
    extensions.append(
        Extension(
            module,
            [path],
            include_dirs=[numpy.get_include(), "fastws"],
            define_macros=macros,
            extra_compile_args=compile_args,
        )
    )

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=ANNOTATE,
        nthreads=int(os.environ.get("FASTWS_BUILD_JOBS", "0")) or None,
    ),
)
