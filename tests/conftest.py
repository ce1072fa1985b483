"""Shared pytest configuration."""

import os

# sklearn's array-API checks are skipped unless scipy's array API is enabled.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
