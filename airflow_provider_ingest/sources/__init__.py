"""Sources: components that read catalogs and emit records."""
