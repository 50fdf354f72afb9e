"""Label and field selectors of the dev cluster: kube's grammar, matching and error messages."""

from __future__ import annotations

import pytest
from recurringjob.devcluster.selectors import FieldSelector, LabelSelector

LABELS = {"app": "web", "tier": "frontend", "recurringjob.dev/name": "nightly", "count": "7"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (web, db)", True),
        ("app in (db)", False),
        ("app notin (db,cache)", True),
        ("missing notin (a)", True),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=frontend", True),
        ("app=web,tier=backend", False),
        ("  app = web ,  !missing  ", True),
        ("recurringjob.dev/name=nightly", True),
        ("count>5,count<8", True),
        ("count>7", False),
        ("in=x", False),
        ("app in ()", False),
        ("app=", False),
    ],
)
def test_label_selector_matches(selector: str, matches: bool) -> None:
    assert LabelSelector.parse(selector).matches(LABELS) is matches


def test_label_selector_with_no_labels() -> None:
    assert LabelSelector.parse("!a").matches(None)
    assert not LabelSelector.parse("a").matches(None)
    assert LabelSelector.parse("a!=b").matches({})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt"),
        ("app in web", "unable to parse requirement: found 'web' expected: '('"),
        ("app in (a", "unable to parse requirement: found '', expected: ')'"),
        ("app=(", "unable to parse requirement: found '(', expected: identifier"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        (
            "a>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, "
            "the value must be an integer",
        ),
    ],
)
def test_label_selector_syntax_errors(selector: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        LabelSelector.parse(selector)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        (
            "a/b/c=x",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must consist',
        ),
        ("Bad_Prefix/x=1", "prefix part a lowercase RFC 1123 subdomain"),
        (f"{'k' * 64}=1", "name part must be no more than 63 bytes"),
        ("-key=1", "name part must consist of alphanumeric characters"),
        ("/x=1", "prefix part must be non-empty"),
        ("app=-bad-", 'values[0]: Invalid value: "-bad-": a valid label must be an empty string'),
        (f"app={'v' * 64}", "must be no more than 63 bytes"),
    ],
)
def test_label_key_and_value_validation(selector: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="unable to parse requirement") as err:
        LabelSelector.parse(selector)
    assert fragment in str(err.value)


def test_label_selector_from_metav1_object() -> None:
    selector = LabelSelector.from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend"]},
                {"key": "gone", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({"app": "web"})


POD = {
    "metadata": {"name": "p1", "namespace": "ns1"},
    "spec": {"nodeName": "n1"},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("metadata.name=p1", True),
        ("metadata.name==p1", True),
        ("metadata.name!=p1", False),
        ("metadata.name=p1,metadata.namespace=ns1", True),
        ("metadata.name=p1,metadata.namespace!=ns1", False),
        ("metadata.namespace=", False),
    ],
)
def test_field_selector_matches(selector: str, matches: bool) -> None:
    assert FieldSelector.parse(selector).matches(POD) is matches


def test_field_selector_extra_supported_fields_and_escapes() -> None:
    selector = FieldSelector.parse(
        "status.phase=Running,spec.nodeName!=n2",
        supported=("metadata.name", "metadata.namespace", "status.phase", "spec.nodeName"),
    )
    assert selector.matches(POD)
    assert FieldSelector.parse(r"metadata.name=a\,b").matches({"metadata": {"name": "a,b"}})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("spec.nodeName=n1", "field label not supported: spec.nodeName"),
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("metadata.name=a,oops", "invalid selector: 'metadata.name=a,oops'; can't understand 'oops'"),
    ],
)
def test_field_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        FieldSelector.parse(selector)
    assert str(err.value) == message
