"""A tenant's life after onboarding: moves between the pool, cells and its own silo table.

journal.py keeps the move's state in the tenant's registry record, copying.py copies,
catches up and verifies a partition between two tables, mover.py runs the steps.
"""
