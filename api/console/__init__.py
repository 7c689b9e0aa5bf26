"""The auditors' console: server-rendered pages over the same queries as the API (see routes.py)."""
