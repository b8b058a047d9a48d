"""PDF/A-1b production of health documents."""
