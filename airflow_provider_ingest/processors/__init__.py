"""Built-in processors: ``filter``, ``pii`` and ``enrich``, chainable in any order."""
