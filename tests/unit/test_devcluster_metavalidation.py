"""kube-apiserver's metadata and Job validation in the dev cluster: the rules and kube's exact wording."""

from __future__ import annotations

from typing import Any

import pytest
from recurringjob.devcluster import apierrors, metavalidation
from recurringjob.devcluster.registry import Registry
from recurringjob.devcluster.store import Store

Obj = dict[str, Any]
JOBS = ("batch", "jobs")
CONFIGMAPS = ("", "configmaps")
SUBDOMAIN_REGEX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def new_store() -> Store:
    store = Store(Registry())
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    store.create(("", "namespaces"), namespace)
    return store


def job(name: str, **meta: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, **meta},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "main", "image": "busybox"}]}}}}


def configmap(name: str, **meta: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}}


def refused(store: Store, rk: tuple[str, str], obj: Obj) -> apierrors.ApiError:
    with pytest.raises(apierrors.ApiError) as caught:
        store.create(rk, obj)
    return caught.value


def test_string_rules_match_kube() -> None:
    assert metavalidation.qualified_name("example.com/My_name.1") == []
    assert metavalidation.qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert metavalidation.qualified_name("/x") == ["prefix part must be non-empty"]
    assert metavalidation.qualified_name("x" * 64) == ["name part must be no more than 63 characters"]
    assert metavalidation.qualified_name("-x") == [
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]
    assert metavalidation.label_value("") == []
    assert metavalidation.label_value("v" * 64) == ["must be no more than 63 characters"]
    assert metavalidation.dns1123_subdomain("a.b-c") == []
    assert metavalidation.dns1123_subdomain("Upper") == [
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
        "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
        f"is '{SUBDOMAIN_REGEX}')"]
    assert metavalidation.dns1123_label("a.b") != [] and metavalidation.dns1123_label("a-1") == []
    assert metavalidation.dns1035_label("1abc") != [] and metavalidation.dns1035_label("abc-1") == []
    assert metavalidation.path_segment_name("system:controller:x") == []
    assert metavalidation.path_segment_name("a/b") == ["may not contain '/'"]


def test_a_bad_label_value_is_422_in_kubes_format() -> None:
    error = refused(new_store(), JOBS, job("x", labels={"team": "v" * 64}))
    assert error.code == 422 and error.reason == "Invalid"
    assert error.message == (f'Job.batch "x" is invalid: metadata.labels: Invalid value: "{"v" * 64}": '
                             "must be no more than 63 characters")
    assert error.details == {"name": "x", "kind": "Job", "group": "batch", "causes": [
        {"reason": "FieldValueInvalid", "field": "metadata.labels",
         "message": f'Invalid value: "{"v" * 64}": must be no more than 63 characters'}]}


def test_a_job_name_over_63_characters_fails_through_its_pod_template_labels() -> None:
    name = "n" * 64
    error = refused(new_store(), JOBS, job(name))
    assert error.message == (f'Job.batch "{name}" is invalid: spec.template.labels: Invalid value: '
                             f'"{name}": must be no more than 63 characters')  # repeated causes: one message
    assert [c["field"] for c in error.details["causes"]] == ["spec.template.labels"] * 2  # type: ignore[index]
    new_store().create(JOBS, job("n" * 63))


def test_names_per_kind() -> None:
    store = new_store()
    assert "metadata.name: Invalid value" in refused(store, CONFIGMAPS, configmap("Bad_Name")).message
    too_long = refused(store, CONFIGMAPS, configmap("c" * 254)).message
    assert "must be no more than 253 characters" in too_long
    store.create(CONFIGMAPS, configmap("a.dotted.name"))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.dotted"}}
    assert "RFC 1123 label" in refused(store, ("", "namespaces"), namespace).message
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"}}
    assert "DNS-1035 label" in refused(store, ("", "services"), service).message
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:controller:x"}}
    store.create(("rbac.authorization.k8s.io", "clusterroles"), role)


def test_generate_name_is_validated_and_long_prefixes_are_truncated() -> None:
    store = new_store()
    assert "metadata.generateName: Invalid value" in refused(store, CONFIGMAPS, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "Bad-"}}).message
    created = store.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"generateName": "g" * 100 + "-"}})
    assert len(created["metadata"]["name"]) == 63
    created_job = store.create(JOBS, {**job(""), "metadata": {"generateName": "j" * 70}})
    assert len(created_job["metadata"]["name"]) == 63  # its job-name label fits


def test_annotations_keys_and_total_size() -> None:
    store = new_store()
    store.create(CONFIGMAPS, configmap("case", annotations={"Example.COM/Key": "v"}))  # case-insensitive keys
    bad_key = refused(store, CONFIGMAPS, configmap("k", annotations={"a b": "v"}))
    assert bad_key.details["causes"][0]["field"] == "metadata.annotations"  # type: ignore[index]
    big = refused(store, CONFIGMAPS, configmap("big", annotations={"a": "x" * (256 * 1024)}))
    assert big.details["causes"] == [{"reason": "FieldValueTooLong", "field": "metadata.annotations",  # type: ignore[index]
                                      "message": "Too long: may not be more than 262144 bytes"}]


def test_finalizers_and_owner_references() -> None:
    store = new_store()
    assert "metadata.finalizers: Invalid value: \"bad/fin/alizer\"" in refused(
        store, CONFIGMAPS, configmap("f", finalizers=["bad/fin/alizer"])).message
    both = refused(store, CONFIGMAPS, configmap("f", finalizers=["orphan", "foregroundDeletion"]))
    assert "finalizer orphan and foregroundDeletion cannot be both set" in both.message
    partial_ref = {"apiVersion": "", "kind": "RecurringJob"}
    error = refused(store, CONFIGMAPS, configmap("o", ownerReferences=[partial_ref]))
    fields = [c["field"] for c in error.details["causes"]]  # type: ignore[index]
    assert fields == ["metadata.ownerReferences.apiVersion", "metadata.ownerReferences.name",
                      "metadata.ownerReferences.uid"]
    assert 'Invalid value: "": version must not be empty' in error.message
    ref = {"apiVersion": "recurringjob.dev/v1alpha1", "kind": "RecurringJob", "name": "a", "uid": "1",
           "controller": True}
    two = refused(store, CONFIGMAPS, configmap("o", ownerReferences=[ref, dict(ref, name="b", uid="2")]))
    assert "Only one reference can have Controller set to true. Found \"true\" in references for " \
           "RecurringJob/a and RecurringJob/b" in two.message
    store.create(CONFIGMAPS, configmap("o", ownerReferences=[ref], finalizers=["example.com/x", "orphan"]))


def test_metadata_of_the_wrong_type_is_a_400() -> None:
    with pytest.raises(apierrors.ApiError) as caught:
        new_store().create(CONFIGMAPS, configmap("t", labels={"n": 1}))
    assert caught.value.code == 400
    assert caught.value.message == ("json: cannot unmarshal integer into Go struct field "
                                    "ObjectMeta.metadata.labels of type string")


def test_job_pod_template() -> None:
    store = new_store()
    missing = job("r")
    del missing["spec"]["template"]["spec"]["restartPolicy"]
    assert refused(store, JOBS, missing).message == (
        'Job.batch "r" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": '
        'supported values: "OnFailure", "Never"')
    empty = job("c")
    empty["spec"]["template"]["spec"]["containers"] = []
    assert "spec.template.spec.containers: Required value" in refused(store, JOBS, empty).message
    bad = job("b")
    bad["spec"]["template"]["spec"]["containers"] = [{"name": "Main"}, {"name": "x", "image": "i"},
                                                     {"name": "x", "image": "i"}]
    fields = [(c["field"], c["reason"]) for c in refused(store, JOBS, bad).details["causes"]]  # type: ignore[index]
    assert fields == [("spec.template.spec.containers[0].name", "FieldValueInvalid"),
                      ("spec.template.spec.containers[0].image", "FieldValueRequired"),
                      ("spec.template.spec.containers[2].name", "FieldValueDuplicate")]
    labelled = job("l")
    labelled["spec"]["template"]["metadata"] = {"labels": {"bad key": "v"}}
    assert "spec.template.labels: Invalid value: \"bad key\"" in refused(store, JOBS, labelled).message


def test_invalid_beats_already_exists() -> None:
    store = new_store()
    store.create(JOBS, job("dup"))
    assert refused(store, JOBS, job("dup", labels={"k": "-bad"})).code == 422
    assert refused(store, JOBS, job("dup")).code == 409


def test_updates_are_validated_and_may_not_add_finalizers_while_deleting() -> None:
    store = new_store()
    store.create(CONFIGMAPS, configmap("u", finalizers=["example.com/a", "example.com/b"]))
    current = store.get(CONFIGMAPS, "default", "u")
    current["metadata"]["labels"] = {"k": "bad value"}
    with pytest.raises(apierrors.ApiError) as caught:
        store.update(CONFIGMAPS, current)
    assert caught.value.code == 422
    store.delete(CONFIGMAPS, "default", "u")
    current = store.get(CONFIGMAPS, "default", "u")
    current["metadata"]["finalizers"] = ["example.com/a", "example.com/c"]
    with pytest.raises(apierrors.ApiError) as caught:
        store.update(CONFIGMAPS, current)
    assert caught.value.message == (
        'ConfigMap "u" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the '
        'object is being deleted, found new finalizers []string{"example.com/c"}')
    current["metadata"]["finalizers"] = ["example.com/a"]  # removing is fine
    store.update(CONFIGMAPS, current)
    current = store.get(CONFIGMAPS, "default", "u")
    current["metadata"]["finalizers"] = []
    store.update(CONFIGMAPS, current)
    assert store.peek(CONFIGMAPS, "default", "u") is None
