"""Terraform HCL: finding it in answers (extract), parsing it (parse), checking it against the AWS provider
schema that `iacdemo.terraform.schema` loads (check), and highlighting it (highlight).

Nothing is imported here: the terraform package reads HCL through `parse` and `extract`, and importing
the package must not pull in the checks that themselves read the terraform package.
"""
