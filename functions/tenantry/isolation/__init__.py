"""Isolation plumbing: tenant-scoped credentials, clients and the in-process guard."""
