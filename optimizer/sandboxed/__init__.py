"""Code that runs only inside the sandbox, never in the language server.

``boot.py`` is the entry point (``python -I boot.py JOB``): it loads this folder as the private package
``_slipstream_sandboxed`` (so a user's own top-level ``optimizer`` package cannot shadow it), installs the
process's own guards (seccomp, then an audit hook for friendly errors) and calls the job's driver. The
drivers import only the standard library and each other (relatively), plus whatever the job names
(the user's modules, pytest, hypothesis, scalene). They report as JSON on the protocol descriptor or in
the result file; the parent never unpickles anything a sandboxed process wrote.
"""
