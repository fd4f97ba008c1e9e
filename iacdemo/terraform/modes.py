"""The scoring modes: `static` (the offline stand-in) or `real` (Terraform itself, see real.py).

Kept apart from real.py so that code which only names a mode (reports, the harness) does not import
the machinery that starts Terraform.
"""
STATIC = "static"
REAL = "real"
AUTO = "auto"  # real where this machine can run it, else static (`real.resolve_mode`)
MODES = (STATIC, REAL, AUTO)
