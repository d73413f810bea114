"""The JSON Schema of workflow files, with each built-in component's settings, for editors."""

from __future__ import annotations

from typing import Any

from airflow_provider_ingest.registry import available
from airflow_provider_ingest.workflow.spec import WorkflowFile

_FIELDS = {
    "source": "source",
    "processor": "processors",
    "sink": "sink",
    "stage": "stage",
    "bulk_sink": "bulk_sink",
}


def workflow_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a workflow file; ``config`` is checked per component type."""
    schema = WorkflowFile.model_json_schema()
    definitions = schema.setdefault("$defs", {})
    for role, field_name in _FIELDS.items():
        conditions = []
        for name, component in available(role):
            config_class = component.config_class
            config_schema = config_class.model_json_schema(ref_template="#/$defs/{model}")
            definitions.update(config_schema.pop("$defs", {}))
            for refused in config_class.refused():
                config_schema.get("properties", {}).pop(refused, None)
            key = f"{role}_{name}_config".replace(".", "_")
            definitions[key] = config_schema
            conditions.append(
                {
                    "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                    "then": {"properties": {"config": {"$ref": f"#/$defs/{key}"}}},
                }
            )
        component = {"allOf": conditions}
        target = {"items": component} if field_name == "processors" else component
        schema.setdefault("allOf", []).append({"properties": {field_name: target}})
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "airflow-provider-ingest workflow"
    return schema
