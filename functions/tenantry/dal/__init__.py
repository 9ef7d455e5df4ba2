"""DynamoDB access. Keys are built here and only here (see keys.py)."""
