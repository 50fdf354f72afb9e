"""The throwaway `example.dev` CustomResourceDefinitions that the dev-cluster client tests create."""

from __future__ import annotations

from typing import Any


def example_crd(kind: str, schema: dict[str, Any], *, status_subresource: bool = True) -> dict[str, Any]:
    """A namespaced CRD `<kind>s.example.dev` (plural and singular: `kind` lowercased) with one served,
    stored version v1 whose openAPIV3Schema is `schema`; a status subresource unless told not to."""
    singular = kind.lower()
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True}
    if status_subresource:
        version["subresources"] = {"status": {}}
    version["schema"] = {"openAPIV3Schema": schema}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{singular}s.example.dev"},
        "spec": {
            "group": "example.dev",
            "scope": "Namespaced",
            "names": {"plural": f"{singular}s", "singular": singular, "kind": kind},
            "versions": [version],
        },
    }


def spec_n_schema(status: dict[str, Any]) -> dict[str, Any]:
    """An object schema with an integer `spec.n` and the given `status` schema."""
    return {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"n": {"type": "integer"}}},
            "status": status,
        },
    }
