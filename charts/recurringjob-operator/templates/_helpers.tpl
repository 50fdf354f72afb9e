{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "recurringjob-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, plus the chart name unless it already has it. */}}
{{- define "recurringjob-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "recurringjob-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "recurringjob-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "recurringjob-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "recurringjob-operator.labels" -}}
helm.sh/chart: {{ include "recurringjob-operator.chart" . }}
{{ include "recurringjob-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: recurringjob
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "recurringjob-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "recurringjob-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "recurringjob-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "recurringjob-operator.leaseName" -}}
{{- default (include "recurringjob-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The operator's permissions on RecurringJobs, their Jobs and Events: exactly the requests a running
operator makes, as recorded by the dev cluster's access log (tests/e2e/test_chart_rbac_e2e.py;
docs/operations.md, "RBAC"). Used by the ClusterRole (cluster mode) and each namespace's Role.
*/}}
{{- define "recurringjob-operator.workloadRules" -}}
# list/watch: the caches; get: a fresh read after a claim lost to a conflict (409)
- apiGroups: ["recurringjob.dev"]
  resources: ["recurringjobs"]
  verbs: ["get", "list", "watch"]
# the claim and the bookkeeping: resourceVersion-checked PUTs of the status subresource
- apiGroups: ["recurringjob.dev"]
  resources: ["recurringjobs/status"]
  verbs: ["update"]
# create: launch; delete: Replace and history pruning; get: AlreadyExists owner check, recovery;
# patch: releasing the occurrence-lock finalizer (a JSON patch that removes only ours)
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete", "patch"]
# Warning events on RecurringJobs (Kopf's own event posting is off)
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}
