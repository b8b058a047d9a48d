"""PC/SC smart-card adapters (pyscard): the reader/card monitor, the carte Vitale and CPS readers."""
