"""Tenant screening (FCRA 615(a)) on SYNTHETIC rental applications: data (data.py) and a seeded model (train.py)
for the YAML-and-templates pack domains/tenant_screening/."""
