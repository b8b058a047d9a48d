"""LGC application layer: use cases, DTOs, settings, the composition root and entry points."""
