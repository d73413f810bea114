"""Workflow files: schema, loading with precise errors, and the serial runner."""
