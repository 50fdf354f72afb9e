"""Table columns for the built-in kinds a Helm chart renders: Deployments, Services, PDBs, RBAC.

The columns of kube's internal printers (pkg/printers/internalversion), computed from stored
objects only: no controller runs, so a Deployment's counts are whatever its status says.
Kept apart from tables.py, which holds the table machinery and the operator's own kinds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recurringjob.devcluster.tables import _AGE_COLUMN, _AGE_DESCRIPTION, CellsFn, Obj, _age, _column

Printer = tuple[list[dict[str, Any]], CellsFn, bool]  # (columns after Name, cells, Name leads)


def _age_of(obj: Obj, now: datetime) -> str:
    return _age((obj.get("metadata") or {}).get("creationTimestamp"), now)


def _pod_template_cells(spec: Obj) -> list[str]:
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = ",".join(
        f"{k}={v}" for k, v in sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items())
    )
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        selector or "<none>",
    ]


def _deployment_cells(deployment: Obj, now: datetime) -> list[Any]:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = spec.get("replicas", 1)
    return [
        f"{status.get('readyReplicas') or 0}/{desired}",
        int(status.get("updatedReplicas") or 0),
        int(status.get("availableReplicas") or 0),
        _age_of(deployment, now),
        *_pod_template_cells(spec),
    ]


def _service_ports(spec: Obj) -> str:
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port', '')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol') or 'TCP'}")
    return ",".join(ports) or "<none>"


def _service_cells(service: Obj, now: datetime) -> list[Any]:
    spec = service.get("spec") or {}
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = [i.get("ip") or i.get("hostname") or "" for i in ingress] + list(spec.get("externalIPs") or [])
    if not external and spec.get("type") == "LoadBalancer":
        external = ["<pending>"]
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [
        spec.get("type") or "ClusterIP",
        spec.get("clusterIP") or "<none>",
        ",".join(external) or "<none>",
        _service_ports(spec),
        _age_of(service, now),
        selector or "<none>",
    ]


def _pdb_cells(pdb: Obj, now: datetime) -> list[Any]:
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    return [
        str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
        str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
        int(status.get("disruptionsAllowed") or 0),
        _age_of(pdb, now),
    ]


def _binding_cells(binding: Obj, now: datetime) -> list[Any]:
    subjects = binding.get("subjects") or []

    def names(kind: str) -> str:
        found = [
            f"{s.get('namespace', '')}/{s.get('name', '')}" if kind == "ServiceAccount" else s.get("name", "")
            for s in subjects
            if s.get("kind") == kind
        ]
        return ", ".join(found)

    ref = binding.get("roleRef") or {}
    return [
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _age_of(binding, now),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
    ]


_CREATED_AT: Printer = (
    [_column("Created At", "date", _AGE_DESCRIPTION)],
    lambda o, now: [(o.get("metadata") or {}).get("creationTimestamp") or ""],
    True,
)
_BINDING: Printer = (
    [
        _column("Role", description="Role referenced by this binding."),
        _AGE_COLUMN,
        _column("Users", description="Users in the binding.", priority=1),
        _column("Groups", description="Groups in the binding.", priority=1),
        _column("ServiceAccounts", description="ServiceAccounts in the binding.", priority=1),
    ],
    _binding_cells,
    True,
)
_TEMPLATE_COLUMNS = [
    _column("Containers", description="Names of each container in the template.", priority=1),
    _column("Images", description="Images referenced by each container in the template.", priority=1),
    _column("Selector", description="Label selector for pods.", priority=1),
]

PRINTERS: dict[str, Printer] = {
    "Deployment": (
        [
            _column("Ready", description="Number of the pod with ready state."),
            _column("Up-to-date", "integer", "Pods with the desired template."),
            _column("Available", "integer", "Number of available pods (ready for at least minReadySeconds)."),
            _AGE_COLUMN,
            *_TEMPLATE_COLUMNS,
        ],
        _deployment_cells,
        True,
    ),
    "Service": (
        [
            _column("Type", description="The type of service."),
            _column("Cluster-IP", description="The cluster IP of the service."),
            _column("External-IP", description="The external IP of the service."),
            _column("Port(s)", description="The ports of the service."),
            _AGE_COLUMN,
            _column("Selector", description="Label selector for the pods the service routes to.", priority=1),
        ],
        _service_cells,
        True,
    ),
    "PodDisruptionBudget": (
        [
            _column("Min Available", description="The minimum number of pods that must be available."),
            _column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
            _column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted."),
            _AGE_COLUMN,
        ],
        _pdb_cells,
        True,
    ),
    # kube prints Roles and ClusterRoles with the default convertor's "Created At".
    "Role": _CREATED_AT,
    "ClusterRole": _CREATED_AT,
    "RoleBinding": _BINDING,
    "ClusterRoleBinding": _BINDING,
}
