"""The compiled SSE parser (harness/sse/_speedups.pyx). Everything else is in pyproject.toml.

It is optional: without a C compiler the install goes on and harness.sse uses its Python twin.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("harness.sse._speedups", ["harness/sse/_speedups.pyx"], optional=True)])
