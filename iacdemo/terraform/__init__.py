"""Everything that stands in for Terraform, or runs the real one (real mode: see real.py)."""
