"""CDA R2 documents: production, reading, validation (XSD + CI-SIS schematrons), IHE XDM."""
