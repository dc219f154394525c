{{/* Chart name, overridable. */}}
{{- define "podpilot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: <release>-<chart>, or <release> when it already has the chart name. */}}
{{- define "podpilot.fullname" -}}
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

{{/* Labels on every resource. */}}
{{- define "podpilot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "podpilot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: podpilot
{{- end }}

{{/* Labels that select the operator pods; never change them after a release exists. */}}
{{- define "podpilot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podpilot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "podpilot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podpilot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "podpilot.peeringName" -}}
{{- default (include "podpilot.fullname" .) .Values.peering.name }}
{{- end }}

{{/* Whether the replicas elect a leader on a Lease: never when standalone (no peering). */}}
{{- define "podpilot.leaderElection" -}}
{{- if and .Values.peering.enabled .Values.leaderElection.enabled }}true{{ end }}
{{- end }}

{{- define "podpilot.leaseName" -}}
{{- default (printf "%s-leader" (include "podpilot.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Image reference: repository@digest, or repository:tag (tag defaults to appVersion). */}}
{{- define "podpilot.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Comma-separated enabled controllers, in a fixed order, for --controllers. */}}
{{- define "podpilot.enabledControllers" -}}
{{- $enabled := list }}
{{- range $name := list "autoscaler" "emptydir" "flannel" }}
{{- if (index $.Values.controllers $name).enabled }}
{{- $enabled = append $enabled $name }}
{{- end }}
{{- end }}
{{- join "," $enabled }}
{{- end }}

{{/*
A ClusterRole bound to the operator's ServiceAccount. Call with
(dict "ctx" $ "component" "autoscaler" "rules" $rules) where $rules is YAML text.
*/}}
{{- define "podpilot.clusterRoleWithBinding" -}}
{{- $name := printf "%s-%s" (include "podpilot.fullname" .ctx) .component }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name }}
  labels:
    {{- include "podpilot.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
rules:
{{- .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "podpilot.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "podpilot.serviceAccountName" .ctx }}
    namespace: {{ .ctx.Release.Namespace }}
{{- end }}

{{/* A Role and RoleBinding in one namespace. Same arguments plus "namespace" and "suffix". */}}
{{- define "podpilot.roleWithBinding" -}}
{{- $name := printf "%s-%s" (include "podpilot.fullname" .ctx) .suffix }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ .namespace }}
  labels:
    {{- include "podpilot.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
rules:
{{- .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ .namespace }}
  labels:
    {{- include "podpilot.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "podpilot.serviceAccountName" .ctx }}
    namespace: {{ .ctx.Release.Namespace }}
{{- end }}
