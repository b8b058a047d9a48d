"""LGC tests."""
