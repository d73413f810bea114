"""Usage and lineage from SQL: the query parser (query logs and view definitions)."""
