"""The kubectl plugin's API access: the official `kubernetes` client's kubeconfig loading, auth and
TLS, with plain JSON dicts in and out, and every failure turned into one clear line (PluginError).

Like kubectl: `--kubeconfig`, else $KUBECONFIG (several files joined with ':'), else ~/.kube/config;
`--context`, else the current context; `-n`, else the context's namespace, else "default".
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException

from recurringjob import GROUP, PLURAL, VERSION

REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read


class PluginError(Exception):
    """A failure to report as one line (exit code 1)."""


class NotFound(PluginError):
    pass


class Conflict(PluginError):
    """409: the object changed since it was read (or the name is taken): re-read and retry."""


def _kubeconfig_files(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


def _first_current_context(files: list[str]) -> str | None:
    for path in files:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        if isinstance(doc, dict) and doc.get("current-context"):
            return str(doc["current-context"])
    return None


class Client:
    """One API server, from a kubeconfig context."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None) -> None:
        files = _kubeconfig_files(kubeconfig)
        existing = [f for f in files if os.path.isfile(f)]
        if not existing:
            hint = "pass --kubeconfig or set KUBECONFIG" if not kubeconfig else "check the path"
            raise PluginError(f"no kubeconfig found at {', '.join(files)}: {hint}")
        config_file = os.pathsep.join(existing)
        configuration = Configuration()
        try:
            contexts, current = kube_config.list_kube_config_contexts(config_file=config_file)
            # kubectl: with several files the first one that sets current-context wins.
            context = context or _first_current_context(existing) or None
            chosen = current
            if context:
                matches = [c for c in contexts if c.get("name") == context]
                if not matches:
                    names = ", ".join(sorted(str(c.get("name")) for c in contexts)) or "none"
                    raise PluginError(f"context {context!r} not found in the kubeconfig (contexts: {names})")
                chosen = matches[0]
            kube_config.load_kube_config(config_file=config_file, context=context,
                                         client_configuration=configuration, persist_config=False)
        except ConfigException as exc:
            raise PluginError(f"invalid kubeconfig {config_file}: {exc}") from None
        except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
            raise PluginError(f"cannot load kubeconfig {config_file}: {exc}") from None
        configuration.retries = False  # one attempt: report an unreachable server at once
        ctx_namespace = ((chosen or {}).get("context") or {}).get("namespace")
        self.namespace: str = namespace or ctx_namespace or "default"
        self.host: str = configuration.host
        self.api = ApiClient(configuration)

    def request(self, method: str, path: str, query: Mapping[str, str] | None = None,
                body: Any = None, content_type: str = "application/json") -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        if query:
            path = f"{path}?{urlencode(query)}"
        try:
            method, url, headers, payload, post = self.api.param_serialize(
                method=method, resource_path=path, header_params=headers,
                body=body, auth_settings=["BearerToken"])
            response = self.api.call_api(method, url, headers, payload, post,
                                         _request_timeout=REQUEST_TIMEOUT)
            raw = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise PluginError(f"cannot reach the API server at {self.host}: {reason}") from None
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        if response.status >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            text = message or (raw or b"").decode(errors="replace").strip()[:200] or response.reason
            if response.status == 404:
                raise NotFound(text)
            if response.status == 409:
                raise Conflict(text)
            if response.status in (401, 403):
                raise PluginError(f"not allowed ({response.status} {response.reason}): {text}")
            raise PluginError(f"API error {response.status} {response.reason}: {text}")
        if not isinstance(data, dict):
            raise PluginError(f"unexpected answer from {self.host}{path}")
        return data

    # -- RecurringJobs and their Jobs ---------------------------------------------------------

    def rj_path(self, namespace: str | None, name: str | None = None) -> str:
        base = f"/apis/{GROUP}/{VERSION}"
        path = f"{base}/namespaces/{quote(namespace)}/{PLURAL}" if namespace else f"{base}/{PLURAL}"
        return f"{path}/{quote(name)}" if name else path

    def get_rj(self, name: str) -> dict[str, Any]:
        try:
            return self.request("GET", self.rj_path(self.namespace, name))
        except NotFound:
            self._check_crd()
            raise NotFound(f'recurringjob "{name}" not found in namespace "{self.namespace}"') from None

    def list_rjs(self, all_namespaces: bool) -> list[dict[str, Any]]:
        try:
            data = self.request("GET", self.rj_path(None if all_namespaces else self.namespace))
        except NotFound:
            self._check_crd()
            raise
        return list(data.get("items") or [])

    def _check_crd(self) -> None:
        try:
            self.request("GET", f"/apis/{GROUP}/{VERSION}")
        except NotFound:
            raise PluginError(f"the server has no {PLURAL}.{GROUP} resource: install the CRD "
                              "(kubectl apply -f crds/)") from None

    def owned_jobs(self, rj: Mapping[str, Any]) -> list[dict[str, Any]]:
        meta = rj.get("metadata") or {}
        namespace, name, uid = meta.get("namespace") or self.namespace, meta.get("name", ""), meta.get("uid")
        data = self.request("GET", f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs",
                            query={"labelSelector": f"{GROUP}/name={name}"})
        jobs = []
        for job in data.get("items") or []:
            owners = (job.get("metadata") or {}).get("ownerReferences") or []
            if not uid or any(o.get("uid") == uid for o in owners):
                jobs.append(job)
        return jobs

    def patch_rj(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self.request("PATCH", self.rj_path(self.namespace, name), body=patch,
                                content_type="application/merge-patch+json")
        except NotFound:
            raise NotFound(f'recurringjob "{name}" not found in namespace "{self.namespace}"') from None

    def replace_rj(self, rj: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the whole object: the API server answers 409 (Conflict) when metadata.resourceVersion
        is not the stored one, so a read-modify-write loses nothing written meanwhile."""
        name = str((rj.get("metadata") or {}).get("name", ""))
        try:
            return self.request("PUT", self.rj_path(self.namespace, name), body=dict(rj))
        except NotFound:
            raise NotFound(f'recurringjob "{name}" not found in namespace "{self.namespace}"') from None
