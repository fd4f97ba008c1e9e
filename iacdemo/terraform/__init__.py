"""Everything that stands in for Terraform and its AWS provider (the provider schema, expressions and
functions, the emulated plan), and the real CLI where it is installed (real mode: see real.py)."""
