"""kube-apiserver's validation of object metadata (every kind) and of the Job spec, on each write.

The rules and messages of apimachinery's ValidateObjectMeta / ValidateObjectMetaUpdate and of
pkg/apis/batch/validation as of Kubernetes 1.32: names (DNS-1123 subdomain for most kinds, DNS-1123
label for namespaces, DNS-1035 label for services, path segment names for RBAC), generateName,
label keys and values, annotation keys and total size, finalizer names (and no new finalizer on an
object being deleted), ownerReferences; for Jobs the pod template's labels (so a Job name longer
than 63 characters fails through its `job-name` labels, as in kube), annotations, containers and
restartPolicy. Every problem becomes one cause of a 422 Invalid, in kube's order and wording.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.fielderrors import go_value, json_type
from recurringjob.devcluster.registry import RK, ResourceType

Obj = dict[str, Any]
Cause = dict[str, str]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
LABEL_VALUE_MAX = 63
QUALIFIED_NAME_MAX = 63
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
FOREGROUND, ORPHAN = "foregroundDeletion", "orphan"

_QUALIFIED_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an"
                  " alphanumeric character")
_LABEL_VALUE_FMT = "(" + _QUALIFIED_FMT + ")?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or"
                    " '.', and must start and end with an alphanumeric character")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-',"
                      " and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
                          " '-' or '.', and must start and end with an alphanumeric character")
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with"
                      " an alphabetic character, and end with an alphanumeric character")


def _full(fmt: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{fmt})$")


_QUALIFIED = _full(_QUALIFIED_FMT)
_LABEL_VALUE = _full(_LABEL_VALUE_FMT)
_DNS1123_LABEL = _full(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = _full(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = _full(_DNS1035_LABEL_FMT)


# ----------------------------------------------------------------------------- kube's string checks
def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError, examples and all (its double spaces included)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    listed = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {listed}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _size(text: str) -> int:
    return len(text.encode())  # Go's len(): bytes


def dns1123_label(value: str) -> list[str]:
    errors = [max_len_error(DNS1123_LABEL_MAX)] if _size(value) > DNS1123_LABEL_MAX else []
    if not _DNS1123_LABEL.match(value):
        errors.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errors


def dns1123_subdomain(value: str) -> list[str]:
    errors = [max_len_error(DNS1123_SUBDOMAIN_MAX)] if _size(value) > DNS1123_SUBDOMAIN_MAX else []
    if not _DNS1123_SUBDOMAIN.match(value):
        errors.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def dns1035_label(value: str) -> list[str]:
    errors = [max_len_error(DNS1123_LABEL_MAX)] if _size(value) > DNS1123_LABEL_MAX else []
    if not _DNS1035_LABEL.match(value):
        errors.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def path_segment_name(value: str) -> list[str]:
    """RBAC object names: anything a URL path segment can carry (`system:controller:x` included)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def qualified_name(value: str) -> list[str]:
    """Label keys, annotation keys, finalizers: `[DNS-subdomain/]name`, name ≤ 63."""
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors += ["prefix part " + m for m in dns1123_subdomain(prefix)]
    else:
        return ["a qualified name " + _qualified_regex_error()
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errors.append("name part must be non-empty")
    elif _size(name) > QUALIFIED_NAME_MAX:
        errors.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _QUALIFIED.match(name):
        errors.append("name part " + _qualified_regex_error())
    return errors


def _qualified_regex_error() -> str:
    return regex_error(_QUALIFIED_MSG, _QUALIFIED_FMT, "MyName", "my.name", "123-abc")


def label_value(value: str) -> list[str]:
    errors = [max_len_error(LABEL_VALUE_MAX)] if _size(value) > LABEL_VALUE_MAX else []
    if not _LABEL_VALUE.match(value):
        errors.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


@functools.lru_cache(maxsize=8192)
def _qualified_name_errors(value: str) -> tuple[str, ...]:
    return tuple(qualified_name(value))  # the same keys recur on every write: check each once


@functools.lru_cache(maxsize=8192)
def _label_value_errors(value: str) -> tuple[str, ...]:
    return tuple(label_value(value))


NameCheck = Callable[[str], list[str]]
_NAME_CHECKS: dict[RK, NameCheck] = {
    ("", "namespaces"): dns1123_label,
    ("", "services"): dns1035_label,
    **{("rbac.authorization.k8s.io", r): path_segment_name
       for r in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")},
}


# ------------------------------------------------------------------------------------ field errors
def invalid(field: str, value: Any, detail: str) -> Cause:
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {go_value(value)}: {detail}",
            "field": field}


def required(field: str, detail: str = "") -> Cause:
    return {"reason": "FieldValueRequired", "message": "Required value" + (f": {detail}" if detail else ""),
            "field": field}


def forbidden(field: str, detail: str) -> Cause:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def too_long(field: str, limit: int) -> Cause:
    return {"reason": "FieldValueTooLong", "message": f"Too long: may not be more than {limit} bytes",
            "field": field}


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    accepted = ", ".join(go_value(s) for s in supported)
    return {"reason": "FieldValueNotSupported",
            "message": f"Unsupported value: {go_value(value)}: supported values: {accepted}", "field": field}


def duplicate(field: str, value: Any) -> Cause:
    return {"reason": "FieldValueDuplicate", "message": f"Duplicate value: {go_value(value)}", "field": field}


# -------------------------------------------------------------------------------------- entry points
def validate_create(rt: ResourceType, obj: Obj) -> None:
    """422 Invalid with every cause kube would report for this new object."""
    meta = obj["metadata"]
    causes = object_meta(rt, meta, "metadata")
    causes += _kind_causes(rt, obj)
    _raise(rt, meta, causes)


def validate_update(rt: ResourceType, new: Obj, old: Obj) -> None:
    """The same checks on the new object, plus the rules about changing metadata."""
    meta, old_meta = new["metadata"], old["metadata"]
    causes = object_meta(rt, meta, "metadata", name_check=False)
    if old_meta.get("deletionTimestamp"):
        extra = sorted(set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ()))
        if extra:
            found = "[]string{" + ", ".join(go_value(f) for f in extra) + "}"
            causes.append(forbidden("metadata.finalizers", "no new finalizers can be added if the object is"
                                    f" being deleted, found new finalizers {found}"))
    causes += _kind_causes(rt, new)
    _raise(rt, meta, causes)


def check_metadata_types(meta: Obj) -> None:
    """400 for metadata kube could not even decode (kube's JSON decoder error, in its words)."""
    expected = {"labels": "map[string]string", "annotations": "map[string]string",
                "finalizers": "[]string", "ownerReferences": "[]v1.OwnerReference"}
    for field, go_type in expected.items():
        value = meta.get(field)
        if value is None:
            continue
        container_ok = isinstance(value, dict) if go_type.startswith("map") else isinstance(value, list)
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        item_type = dict if field == "ownerReferences" else str
        bad = None if container_ok else value
        if bad is None:
            bad = next((v for v in items if not isinstance(v, item_type)), None)
            if bad is None:
                continue
            go_type = "v1.OwnerReference" if field == "ownerReferences" else "string"
        raise apierrors.bad_request(f"json: cannot unmarshal {json_type(bad)} into Go struct field "
                                    f"ObjectMeta.metadata.{field} of type {go_type}")


def object_meta(rt: ResourceType, meta: Obj, path: str, name_check: bool = True) -> list[Cause]:
    check_metadata_types(meta)
    causes: list[Cause] = []
    name_rule = _NAME_CHECKS.get(rt.rk, dns1123_subdomain)
    if name_check:
        generate = meta.get("generateName")
        if isinstance(generate, str) and generate:
            masked = generate[:-1] + "a" if len(generate) > 1 and generate.endswith("-") else generate
            causes += [invalid(f"{path}.generateName", generate, m) for m in name_rule(masked)]
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            causes.append(required(f"{path}.name", "name or generateName is required"))
        else:
            causes += [invalid(f"{path}.name", name, m) for m in name_rule(name)]
    causes += label_causes(meta.get("labels"), f"{path}.labels")
    causes += annotation_causes(meta.get("annotations"), f"{path}.annotations")
    causes += owner_reference_causes(meta.get("ownerReferences"), f"{path}.ownerReferences")
    causes += finalizer_causes(meta.get("finalizers"), f"{path}.finalizers")
    return causes


def label_causes(values: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in sorted((values or {}).items()):
        causes += [invalid(path, key, m) for m in _qualified_name_errors(key)]
        causes += [invalid(path, value, m) for m in _label_value_errors(value)]
    return causes


def annotation_causes(values: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    total = 0
    for key, value in sorted((values or {}).items()):
        # kube: a qualified name, except that case does not matter
        causes += [invalid(path, key, m) for m in _qualified_name_errors(key.lower())]
        total += _size(key) + _size(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def finalizer_causes(values: Any, path: str) -> list[Cause]:
    values = values or []
    causes: list[Cause] = []
    for finalizer in values:
        causes += [invalid(path, finalizer, m) for m in _qualified_name_errors(finalizer)]
    if FOREGROUND in values and ORPHAN in values:
        causes.append(invalid(path, values, f"finalizer {ORPHAN} and {FOREGROUND} cannot be both set"))
    return causes


def owner_reference_causes(refs: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    controller = ""
    for ref in refs or []:
        api_version = ref.get("apiVersion")
        parts = api_version.split("/") if isinstance(api_version, str) and api_version else []
        if len(parts) not in (1, 2) or not parts[-1]:
            causes.append(invalid(f"{path}.apiVersion", api_version or "", "version must not be empty"))
        for field, what in (("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not isinstance(ref.get(field), str) or not ref.get(field):
                causes.append(invalid(f"{path}.{field}", ref.get(field) or "", f"{what} must not be empty"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if controller:
                causes.append(invalid(path, refs, "Only one reference can have Controller set to true. Found"
                                      f' "true" in references for {controller} and {current}'))
            else:
                controller = current
    return causes


# ------------------------------------------------------------------------------------------- Jobs
def _kind_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    return job_spec(obj) if rt.rk == ("batch", "jobs") else []


def job_spec(job: Obj) -> list[Cause]:
    spec = job.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(template, dict):
        return [required("spec.template")]
    causes: list[Cause] = []
    tmeta = template.get("metadata") or {}
    if not isinstance(tmeta, dict):
        raise apierrors.bad_request(f"json: cannot unmarshal {json_type(tmeta)} into Go struct field "
                                    "PodTemplateSpec.spec.template.metadata of type v1.ObjectMeta")
    check_metadata_types(tmeta)
    # the controller labels carry the Job's name: a name over 63 characters fails here, as in kube
    causes += label_causes(tmeta.get("labels"), "spec.template.labels")
    causes += annotation_causes(tmeta.get("annotations"), "spec.template.annotations")
    pod_spec = template.get("spec")
    pod_spec = pod_spec if isinstance(pod_spec, dict) else {}
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append(required("spec.template.spec.containers"))
    else:
        seen: set[str] = set()
        for index, container in enumerate(containers):
            at = f"spec.template.spec.containers[{index}]"
            container = container if isinstance(container, dict) else {}
            name = container.get("name")
            if not isinstance(name, str) or not name:
                causes.append(required(f"{at}.name"))
            else:
                causes += [invalid(f"{at}.name", name, m) for m in dns1123_label(name)]
                if name in seen:
                    causes.append(duplicate(f"{at}.name", name))
                seen.add(name)
            if not isinstance(container.get("image"), str) or not container.get("image"):
                causes.append(required(f"{at}.image"))
    # kube defaults a missing restartPolicy to Always before it validates, then refuses Always.
    restart = pod_spec.get("restartPolicy") or "Always"
    if restart not in ("OnFailure", "Never"):
        causes.append(not_supported("spec.template.spec.restartPolicy", restart, ["OnFailure", "Never"]))
    return causes


def _raise(rt: ResourceType, meta: Obj, causes: list[Cause]) -> None:
    if causes:
        name = meta.get("name") if isinstance(meta.get("name"), str) else ""
        raise apierrors.invalid(rt.group, rt.kind, name or "", causes)
