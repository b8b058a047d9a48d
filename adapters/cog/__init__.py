"""INSEE Code officiel géographique (COG) adapter: birth places valid at a date, read from CSV files."""

from adapters.cog.referential import CsvCogReferential, DemoPlaces

__all__ = ["CsvCogReferential", "DemoPlaces"]
