"""Secrets in the operating system's credential store."""
