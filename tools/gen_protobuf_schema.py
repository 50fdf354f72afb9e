#!/usr/bin/env python3
"""Generate operator/recurringjob/devcluster/protobuf_schema.py: the protobuf field table of the kinds
the dev cluster serves.

Kubernetes' protobuf encoding is a public wire interface: field numbers and wire types are those of
the `generated.proto` files of k8s.io/api, k8s.io/apimachinery and k8s.io/apiextensions-apiserver.
The JSON side (field names from the `json` tags, `omitempty`, `,inline`, pointer or value) is not in
the .proto files, so the Go `types*.go` of the same packages are read too; each Go field is joined to
its proto field by the number in its `protobuf:"..."` tag, and the two names must agree.

Starting from every built-in kind in recurringjob.devcluster.registry.BUILTINS (plus runtime.Unknown,
the envelope, and meta/v1 DeleteOptions), the generator follows message-typed fields and writes only
the messages reachable from them.

Regenerate (bare clones or checkouts; REF is a tag present in all three repositories):

    for r in api apimachinery apiextensions-apiserver; do
        git clone -q --bare https://github.com/kubernetes/$r /tmp/k8s-$r
    done
    .venv/bin/python tools/gen_protobuf_schema.py --ref v0.32.9 --repo api=/tmp/k8s-api \\
        --repo apimachinery=/tmp/k8s-apimachinery \\
        --repo apiextensions-apiserver=/tmp/k8s-apiextensions-apiserver
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from recurringjob.devcluster.registry import BUILTINS  # noqa: E402

OUTPUT = ROOT / "operator" / "recurringjob" / "devcluster" / "protobuf_schema.py"

# Messages whose JSON form comes from a hand-written MarshalJSON, not from their fields: the decoder
# converts them by name (protobuf_json.py); their Go structs carry no protobuf tags.
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "microtime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "rawjson",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "rawjson",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": "rawjson",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "schemaorarray",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "schemaorbool",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": (
        "schemaorstringarray"
    ),
}
EXTRA_ROOTS = (
    "k8s.io.apimachinery.pkg.runtime.Unknown",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
)
SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"}


@dataclass
class ProtoField:
    number: int
    name: str
    label: str  # opt | rep | map
    type: str  # scalar name or fully qualified message name (map: the value type)


@dataclass
class GoField:
    json_name: str
    omitempty: bool
    inline: bool
    pointer: bool
    proto_name: str


class Sources:
    """generated.proto and Go files read from git repositories at one ref."""

    def __init__(self, repos: dict[str, str], ref: str) -> None:
        self.repos, self.ref = repos, ref

    def _git(self, repo: str, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", self.repos[repo], *args], check=True, capture_output=True, text=True
        ).stdout

    def read(self, repo: str, path: str) -> str:
        return self._git(repo, "show", f"{self.ref}:{path}")

    def go_files(self, repo: str, directory: str) -> list[str]:
        names = self._git(repo, "ls-tree", "--name-only", f"{self.ref}:{directory}").split()
        return [
            f"{directory}/{n}"
            for n in names
            if n.endswith(".go") and not n.endswith("_test.go") and not n.startswith(("zz_", "generated"))
        ]


def locate(import_path: str) -> tuple[str, str]:
    """`k8s.io/api/core/v1/generated.proto` -> (repo, directory inside it)."""
    parts = import_path.split("/")
    assert parts[0] == "k8s.io", import_path
    return parts[1], "/".join(parts[2:-1])


def parse_proto(text: str) -> tuple[str, list[str], dict[str, list[ProtoField]]]:
    package = re.search(r"^package ([\w.]+);", text, re.M)
    assert package is not None
    pkg = package.group(1)
    imports = re.findall(r'^import "([^"]+)";', text, re.M)
    messages: dict[str, list[ProtoField]] = {}
    current: list[ProtoField] | None = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if m := re.fullmatch(r"message (\w+) \{", line):
            current = messages.setdefault(f"{pkg}.{m.group(1)}", [])
        elif line == "}":
            current = None
        elif current is not None:
            m = re.fullmatch(r"(optional|repeated|map<string, ([.\w]+)>)\s*([.\w]*) (\w+) = (\d+);", line)
            if m is None:
                raise SystemExit(f"unparsed proto line in {pkg}: {raw!r}")
            label = "map" if m.group(2) else ("rep" if m.group(1) == "repeated" else "opt")
            type_ = m.group(2) or m.group(3)
            if type_ not in SCALARS:
                type_ = type_.lstrip(".") if type_.startswith(".") else f"{pkg}.{type_}"
            current.append(ProtoField(int(m.group(5)), m.group(4), label, type_))
    return pkg, imports, messages


TAG = re.compile(r'(\w+):"([^"]*)"')


def parse_go(text: str) -> dict[str, dict[int, GoField]]:
    """struct name -> proto field number -> what encoding/json needs to know about the field."""
    structs: dict[str, dict[int, GoField]] = {}
    current: dict[int, GoField] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if m := re.fullmatch(r"type (\w+) struct \{", line):
            current = structs.setdefault(m.group(1), {})
            continue
        if line == "}":
            current = None
            continue
        if current is None or line.startswith("//") or "`" not in line:
            continue
        decl, tags_text = line.split("`", 1)
        tags = dict(TAG.findall(tags_text))
        if tags.get("protobuf", "-") == "-":
            continue
        words = decl.split()
        go_type = words[-1]
        json_parts = tags.get("json", "").split(",")
        pb = tags["protobuf"].split(",")
        options = dict(p.split("=", 1) for p in pb[2:] if "=" in p)
        current[int(pb[1])] = GoField(
            json_name=json_parts[0],
            omitempty="omitempty" in json_parts[1:],
            inline="inline" in json_parts[1:],
            pointer=go_type.startswith("*"),
            proto_name=options.get("name", ""),  # EphemeralContainerCommon: none
        )
    return structs


def _lit(value: object) -> str:
    """A Python literal in the repository's style (double quotes)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_lit(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ref", required=True, help="git tag present in every repository, e.g. v0.32.9")
    parser.add_argument("--repo", action="append", required=True, help="NAME=GITDIR (api, apimachinery, ...)")
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args()
    sources = Sources(dict(r.split("=", 1) for r in args.repo), args.ref)

    kinds = {}
    for rt in BUILTINS:
        for version in rt.versions:
            if rt.group == "apiextensions.k8s.io":
                pkg = f"k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.{version}"
            else:
                pkg = f"k8s.io.api.{rt.group.split('.')[0] or 'core'}.{version}"
            kinds[(rt.api_version(version), rt.kind)] = f"{pkg}.{rt.kind}"

    # load every generated.proto reachable through imports, and the Go structs of its package
    protos: dict[str, list[ProtoField]] = {}
    go_structs: dict[str, dict[int, GoField]] = {}
    pending = [
        "k8s.io/api/core/v1/generated.proto",
        "k8s.io/apimachinery/pkg/runtime/generated.proto",
        *(
            f"k8s.io/api/{p.split('.')[3]}/{p.split('.')[4]}/generated.proto"
            for p in kinds.values()
            if p.startswith("k8s.io.api.")
        ),
        *(
            "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto"
            for p in kinds.values()
            if p.startswith("k8s.io.apiextensions_apiserver.")
        ),
    ]
    seen: set[str] = set()
    while pending:
        import_path = pending.pop()
        if import_path in seen:
            continue
        seen.add(import_path)
        repo, directory = locate(import_path)
        pkg, imports, messages = parse_proto(sources.read(repo, f"{directory}/generated.proto"))
        protos.update(messages)
        pending.extend(imports)
        for path in sources.go_files(repo, directory):
            for name, fields in parse_go(sources.read(repo, path)).items():
                if fields:
                    go_structs[f"{pkg}.{name}"] = fields

    # walk from the roots
    order: list[str] = []
    queue = [*kinds.values(), *EXTRA_ROOTS]
    while queue:
        name = queue.pop(0)
        if name in order:
            continue
        if name not in protos:
            raise SystemExit(f"message {name} not found in any generated.proto")
        order.append(name)
        queue.extend(f.type for f in protos[name] if f.type not in SCALARS)

    lines = [
        "# ruff: noqa: E501",
        "# fmt: off",  # one field per line, whatever its length: diffs of a regeneration stay readable
        '"""Protobuf field table of the kinds the dev cluster serves.',
        "",
        "GENERATED by tools/gen_protobuf_schema.py from the generated.proto and types*.go files of",
        f"k8s.io/api, k8s.io/apimachinery and k8s.io/apiextensions-apiserver at {args.ref}:",
        "do not edit, regenerate (see the script's docstring).",
        "",
        "MESSAGES: message -> its fields in Go declaration order (the order encoding/json writes them), each",
        "(number, json name, proto name, label opt|rep|map, type: scalar or message (a map's value type),",
        "go shape: val | ptr | inline, omitempty). SPECIAL: messages with a hand-written JSON form.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "Field = tuple[int, str, str, str, str, str, bool]",
        "",
        f"SOURCE_REF = {_lit(args.ref)}",
        "",
        "KINDS: dict[tuple[str, str], str] = {",
    ]
    lines += [f"    {_lit(key)}: {_lit(value)}," for key, value in sorted(kinds.items())]
    lines += ["}", "", "SPECIAL: dict[str, str] = {"]
    lines += [f"    {_lit(name)}: {_lit(SPECIAL[name])}," for name in order if name in SPECIAL]
    lines += ["}", "", "MESSAGES: dict[str, tuple[Field, ...]] = {"]
    for name in order:
        proto_fields = {f.number: f for f in protos[name]}
        go_fields = go_structs.get(name)
        if go_fields is None and not proto_fields:
            go_fields = {}  # an empty struct (CustomResourceSubresourceStatus): {} in JSON
        if name in SPECIAL or go_fields is None:
            if name not in SPECIAL and name not in ("k8s.io.apimachinery.pkg.runtime.Unknown",):
                raise SystemExit(f"no Go struct with protobuf tags for {name}")
            # JSON names are the proto names (only read by the special converters / the envelope)
            go_fields = {n: GoField(f.name, False, False, False, f.name) for n, f in proto_fields.items()}
        if set(go_fields) != set(proto_fields):
            raise SystemExit(f"{name}: Go fields {sorted(go_fields)} != proto fields {sorted(proto_fields)}")
        lines.append(f"    {_lit(name)}: (")
        for number, g in go_fields.items():
            p = proto_fields[number]
            if g.proto_name not in ("", p.name):
                raise SystemExit(f"{name} field {number}: Go says {g.proto_name}, proto says {p.name}")
            shape = "inline" if g.inline else ("ptr" if g.pointer else "val")
            row = (number, g.json_name, p.name, p.label, p.type, shape, g.omitempty)
            lines.append(f"        {_lit(row)},")
        lines.append("    ),")
    lines += ["}", ""]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {len(order)} messages to {args.output}")


if __name__ == "__main__":
    main()
