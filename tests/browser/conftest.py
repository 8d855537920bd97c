"""Browser fixtures live in tests/conftest.py (one Playwright session for the whole run)."""
