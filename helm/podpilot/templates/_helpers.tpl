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

{{/* Labels on every resource: the chart's, then commonLabels (the schema keeps those from
overriding the chart's own keys). */}}
{{- define "podpilot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "podpilot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: podpilot
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The labels of every resource plus "extra" (a map, e.g. a ServiceMonitor's labels), as one
map, so a key given twice is written once (the extra value wins). Call with (dict "ctx" $
"extra" ...). */}}
{{- define "podpilot.labelsWith" -}}
{{- $labels := include "podpilot.labels" .ctx | fromYaml }}
{{- toYaml (merge (deepCopy (default dict .extra)) $labels) }}
{{- end }}

{{/* Labels that select the operator pods; never change them after a release exists. */}}
{{- define "podpilot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podpilot.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
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

{{/* Whether kopf itself peers, on the peering objects (peering.yaml) and their RBAC: only with
peering and no Lease. With the Lease, podpilot runs kopf standalone (app/__init__.py,
kopf_standalone), so the peering objects would be unused. */}}
{{- define "podpilot.kopfPeering" -}}
{{- if and .Values.peering.enabled (not (include "podpilot.leaderElection" .)) }}true{{ end }}
{{- end }}

{{/*
The namespaces `podpilot run` is limited to by `--namespace` in extraArgs (the chart passes none
of its own), comma-separated, each once; empty means the whole cluster. Read in every mode:
kopf reads CRDs only when it watches cluster-wide (rbac-kopf.yaml), and it peers where it
watches: cluster-wide on a ClusterKopfPeering, else on a KopfPeering in each watched namespace.
Read are --namespace=NAME, --namespace NAME, -n NAME and -nNAME. -n after another short flag,
as in -vnNAME, which podpilot run takes too, fails here, so the chart never puts the peering
objects elsewhere than the operator looks for them; so does an abbreviation such as
--names=NAME, which podpilot run refuses (allow_abbrev off) and which fails here first.
*/}}
{{- define "podpilot.watchedNamespaces" -}}
{{- $namespaces := list }}
{{- $pendingFlag := "" }}
{{- range .Values.extraArgs }}
{{- $arg := toString . }}
{{- $flag := first (splitList "=" $arg) }}
{{- if $pendingFlag }}
{{- $namespaces = append $namespaces $arg }}
{{- $pendingFlag = "" }}
{{- else if or (eq $arg "--namespace") (eq $arg "-n") }}
{{- $pendingFlag = $arg }}
{{- else if hasPrefix "--namespace=" $arg }}
{{- $namespaces = append $namespaces (trimPrefix "--namespace=" $arg) }}
{{- else if hasPrefix "-n" $arg }}
{{- $namespaces = append $namespaces (trimPrefix "-n" $arg) }}
{{- else if or (and (hasPrefix "--na" $flag) (hasPrefix $flag "--namespace")) (regexMatch "^-[a-zA-Z]+n" $arg) }}
{{- fail (printf "extraArgs: write %q as --namespace=NAME: the chart reads the watched namespaces for kopf's RBAC and peering objects" $arg) }}
{{- end }}
{{- end }}
{{- if $pendingFlag }}
{{- fail (printf "extraArgs: %s is the last argument and names no namespace" $pendingFlag) }}
{{- end }}
{{- range $namespaces }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" .) }}
{{- fail (printf "extraArgs: %q is not a namespace name (lowercase letters, digits and '-', at most 63)" .) }}
{{- end }}
{{- end }}
{{- $namespaces | uniq | join "," }}
{{- end }}

{{/*
The flags of `podpilot run` that the chart writes from values (_deployment.tpl) or decides from
them, each with the value to set instead; extraArgs may not carry them. From the same values
the chart renders the peering objects and their RBAC, the Lease and its Role, each
controller's RBAC and Deployment, and the ports of the probes, Service and NetworkPolicy.
extraArgs come after the chart's flags and argparse keeps the last one (and --standalone turns
off all peering), so such a flag would quietly leave those objects to a process that does not
use them: a Role for a Lease it never takes, a peering object it never patches, probes on a
port it does not serve. Each flag has the shortest abbreviation argparse would read as that
flag alone if abbreviations were allowed: from it to the whole flag, with or without =VALUE,
the render fails, as podpilot.watchedNamespaces does for --namespace (podpilot run refuses
abbreviations itself; failing the render says so before a pod crash-loops). The flags the chart writes and lets through
(--log-format, --api-timeout, the Prometheus and kubelet ones, the repeatable
--flannel-configmap-namespace) tune the process alone: nothing rendered breaks when extraArgs
overrides or adds to them.
tests/unit/test_chart_options.py checks the abbreviations against `podpilot run`'s parser and
that every flag the chart writes is refused here or let through on purpose.
*/}}
{{- define "podpilot.valueFlags" -}}
--controllers:
  abbreviation: --contr
  contradicts: controllers.<name>.enabled; set controllers.<name>.enabled (and controllers.emptydir.ownDeployment) instead
--metrics-port:
  abbreviation: --metrics-p
  contradicts: metrics.port; set metrics.port instead
--health-port:
  abbreviation: --health-p
  contradicts: health.port; set health.port instead
--peering-name:
  abbreviation: --peering-n
  contradicts: peering.name; set peering.name instead
--peering-lifetime:
  abbreviation: --peering-l
  contradicts: peering.lifetime; set peering.lifetime instead
--standalone:
  abbreviation: --stan
  contradicts: peering.enabled; set peering.enabled=false instead
--leader-election:
  abbreviation: --leader-election
  contradicts: leaderElection.enabled; set leaderElection.enabled=true (and peering.enabled=true) instead
--no-leader-election:
  abbreviation: --no
  contradicts: leaderElection.enabled; set leaderElection.enabled=false instead
--leader-election-namespace:
  abbreviation: --leader-election-n
  contradicts: the release namespace, where the chart puts the Lease and its Role; install the release in that namespace instead
--leader-election-lease-name:
  abbreviation: --leader-election-lease-n
  contradicts: leaderElection.leaseName; set leaderElection.leaseName instead
--leader-election-lease-duration:
  abbreviation: --leader-election-lease-d
  contradicts: leaderElection.leaseDuration; set leaderElection.leaseDuration instead
--leader-election-renew-deadline:
  abbreviation: --leader-election-ren
  contradicts: leaderElection.renewDeadline; set leaderElection.renewDeadline instead
--leader-election-retry-period:
  abbreviation: --leader-election-ret
  contradicts: leaderElection.retryPeriod; set leaderElection.retryPeriod instead
--shards:
  abbreviation: --sh
  contradicts: leaderElection.sharding; set leaderElection.sharding=true and leaderElection.shards instead
{{- end }}

{{/* Fails on the first argument of extraArgs that is one of podpilot.valueFlags (or its
abbreviation), naming the value to set instead. */}}
{{- define "podpilot.refuseValueFlags" -}}
{{- $flags := include "podpilot.valueFlags" . | fromYaml }}
{{- range .Values.extraArgs }}
{{- $arg := toString . }}
{{- $name := first (splitList "=" $arg) }}
{{- range $flag, $refusal := $flags }}
{{- if and (hasPrefix $refusal.abbreviation $name) (hasPrefix $name $flag) }}
{{- $given := ternary $arg (printf "%s (%s)" $arg $flag) (eq $name $flag) }}
{{- fail (printf "extraArgs: %s contradicts %s" $given $refusal.contradicts) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Autoscalers' shard count when they are sharded (leaderElection.sharding), else empty. */}}
{{- define "podpilot.shards" -}}
{{- if and (include "podpilot.leaderElection" .) .Values.leaderElection.sharding .Values.controllers.autoscaler.enabled }}
{{- int (default .Values.replicaCount .Values.leaderElection.shards) }}
{{- end }}
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

{{/* Comma-separated enabled controllers, in a fixed order. */}}
{{- define "podpilot.enabledControllers" -}}
{{- $enabled := list }}
{{- range $name := list "autoscaler" "emptydir" "flannel" }}
{{- if (index $.Values.controllers $name).enabled }}
{{- $enabled = append $enabled $name }}
{{- end }}
{{- end }}
{{- join "," $enabled }}
{{- end }}

{{/* Whether the emptyDir audit runs in a Deployment of its own, under its own ServiceAccount. */}}
{{- define "podpilot.emptydirApart" -}}
{{- with .Values.controllers.emptydir }}{{ if and .enabled .ownDeployment }}true{{ end }}{{ end }}
{{- end }}

{{/* --controllers of the operator's Deployment: the enabled ones, less an audit that runs apart. */}}
{{- define "podpilot.operatorControllers" -}}
{{- $enabled := list }}
{{- range $name := splitList "," (include "podpilot.enabledControllers" .) }}
{{- if and $name (not (and (eq $name "emptydir") (include "podpilot.emptydirApart" $))) }}
{{- $enabled = append $enabled $name }}
{{- end }}
{{- end }}
{{- join "," $enabled }}
{{- end }}

{{- /* A metrics Service's name: a DNS label, so at most 63 characters whatever the base. */ -}}
{{- define "podpilot.metricsServiceName" -}}
{{- printf "%s-metrics" (. | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- /* The audit's metrics Service: <fullname, 46 characters at most>-emptydir-metrics. That is
also the operator's Service's name when the full name's characters 46-54 are "-emptydir"; then
(only then, so no other release's Service is renamed) the prefix is cut to 40 characters: at
most 57 in all, while the operator's is 62 or 63 in that case, so never the same. */ -}}
{{- define "podpilot.emptydirMetricsServiceName" -}}
{{- $fullname := include "podpilot.fullname" . }}
{{- $name := include "podpilot.metricsServiceName" (printf "%s-emptydir" ($fullname | trunc 46 | trimSuffix "-")) }}
{{- if eq $name (include "podpilot.metricsServiceName" $fullname) }}
{{- $name = include "podpilot.metricsServiceName" (printf "%s-emptydir" ($fullname | trunc 40 | trimSuffix "-")) }}
{{- end }}
{{- $name }}
{{- end }}

{{- define "podpilot.emptydirFullname" -}}
{{- printf "%s-emptydir" (include "podpilot.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/* Labels that select the audit's pods: a name of their own, so the operator's Deployment,
Service and PodDisruptionBudget never select them. */}}
{{- define "podpilot.emptydirSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-emptydir" (include "podpilot.name" . | trunc 54 | trimSuffix "-") | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{- define "podpilot.emptydirServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podpilot.emptydirFullname" .) .Values.serviceAccount.emptydirName }}
{{- else }}
{{- default "default" .Values.serviceAccount.emptydirName }}
{{- end }}
{{- end }}

{{/* The ServiceAccount that runs the audit: its own, or the operator's. */}}
{{- define "podpilot.auditServiceAccountName" -}}
{{- if include "podpilot.emptydirApart" . }}
{{- include "podpilot.emptydirServiceAccountName" . }}
{{- else }}
{{- include "podpilot.serviceAccountName" . }}
{{- end }}
{{- end }}

{{- define "podpilot.emptydirPeeringName" -}}
{{- printf "%s-emptydir" (include "podpilot.peeringName" .) }}
{{- end }}

{{/* The peering objects the chart creates when kopf peers (peering.yaml), comma-separated: the
operator's, and the audit's when it runs apart. kopf's peering RBAC (rbac-kopf.yaml) lets get
and patch only these, so podpilot's accounts cannot touch another kopf operator's peering. */}}
{{- define "podpilot.kopfPeeringNames" -}}
{{- $names := list }}
{{- if include "podpilot.operatorControllers" . }}
{{- $names = append $names (include "podpilot.peeringName" .) }}
{{- end }}
{{- if include "podpilot.emptydirApart" . }}
{{- $names = append $names (include "podpilot.emptydirPeeringName" .) }}
{{- end }}
{{- join "," $names }}
{{- end }}

{{/* kopf's rules on one peering resource (clusterkopfpeerings or kopfpeerings): list and watch
all, get and patch only "names" (rbac-kopf.yaml says why). Call with (dict "resource" ...
"names" (list ...)). */}}
{{- define "podpilot.kopfPeeringRules" -}}
- apiGroups: [kopf.dev]
  resources: [{{ .resource }}]
  verbs: [list, watch]
- apiGroups: [kopf.dev]
  resources: [{{ .resource }}]
  resourceNames: {{ toJson .names }}
  verbs: [get, patch]
{{- end }}

{{- define "podpilot.emptydirLeaseName" -}}
{{- printf "%s-emptydir" (include "podpilot.leaseName" .) }}
{{- end }}

{{/*
A ClusterRole bound to the operator's ServiceAccount. Call with
(dict "ctx" $ "component" "autoscaler" "rules" $rules) where $rules is YAML text; an optional
"accounts" (a list of ServiceAccount names) binds it to those instead.
*/}}
{{- define "podpilot.clusterRoleWithBinding" -}}
{{- $name := printf "%s-%s" (include "podpilot.fullname" .ctx) .component }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name | quote }}
  labels:
    {{- include "podpilot.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
rules:
{{- .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name | quote }}
  labels:
    {{- include "podpilot.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name | quote }}
subjects:
  {{- include "podpilot.subjects" . | nindent 2 }}
{{- end }}

{{/* The subjects of a binding: "accounts" if given, else the operator's ServiceAccount. */}}
{{- define "podpilot.subjects" -}}
{{- $accounts := .accounts | default (list (include "podpilot.serviceAccountName" .ctx)) }}
{{- range $accounts }}
- kind: ServiceAccount
  name: {{ . | quote }}
  namespace: {{ $.ctx.Release.Namespace | quote }}
{{- end }}
{{- end }}

{{/* A Role and RoleBinding in one namespace. Same arguments plus "namespace" and "suffix". */}}
{{- define "podpilot.roleWithBinding" -}}
{{- $name := printf "%s-%s" (include "podpilot.fullname" .ctx) .suffix }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name | quote }}
  namespace: {{ .namespace | quote }}
  labels:
    {{- include "podpilot.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
rules:
{{- .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name | quote }}
  namespace: {{ .namespace | quote }}
  labels:
    {{- include "podpilot.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name | quote }}
subjects:
  {{- include "podpilot.subjects" . | nindent 2 }}
{{- end }}

{{/*
"true" when a CRD exists in the cluster and does not belong to this release: applied with
kubectl (no Helm annotations) or kept by another, uninstalled release. Helm would refuse to
install over it ("invalid ownership metadata"). Call with (dict "existing" <lookup result>
"release" .Release.Name "namespace" .Release.Namespace). A CRD of this release is never
foreign, so an upgrade always keeps rendering (and upgrading) its own CRDs.
*/}}
{{- define "podpilot.foreignCrd" -}}
{{- with .existing }}
{{- $annotations := (default dict .metadata).annotations | default dict }}
{{- $release := index $annotations "meta.helm.sh/release-name" | default "" }}
{{- $namespace := index $annotations "meta.helm.sh/release-namespace" | default "" }}
{{- if not (and (eq $release $.release) (eq $namespace $.namespace)) }}true{{ end }}
{{- end }}
{{- end }}

{{/* The chart's CRDs as (path -> parsed object), from files/crds/. */}}
{{- define "podpilot.crdFiles" -}}
{{- $crds := dict }}
{{- range $path, $_ := .Files.Glob "files/crds/*.yaml" }}
{{- $crd := $.Files.Get $path | fromYaml }}
{{- if hasKey $crd "Error" }}
{{- fail (printf "%s is not valid YAML: %s" $path $crd.Error) }}
{{- end }}
{{- $_ := set $crds $path $crd }}
{{- end }}
{{- toYaml $crds }}
{{- end }}

{{/* How skippedCrds names an object of files/crds/: a CRD by its name, the other kinds there
(the Autoscaler's ValidatingAdmissionPolicy and its binding, which share the CRD's name) as
Kind/name. */}}
{{- define "podpilot.crdFileKey" -}}
{{- if eq .kind "CustomResourceDefinition" }}{{ .metadata.name }}{{ else }}{{ printf "%s/%s" .kind .metadata.name }}{{ end }}
{{- end }}

{{/* The objects of files/crds/ left out because they exist and are not this release's
(crds.skipUnowned), comma-separated keys (podpilot.crdFileKey); empty with `helm template` (no
cluster to look up). */}}
{{- define "podpilot.skippedCrds" -}}
{{- $skipped := list }}
{{- if and .Values.crds.install .Values.crds.skipUnowned }}
{{- range $path, $crd := include "podpilot.crdFiles" . | fromYaml }}
{{- $existing := lookup $crd.apiVersion $crd.kind "" $crd.metadata.name }}
{{- if include "podpilot.foreignCrd" (dict "existing" $existing "release" $.Release.Name "namespace" $.Release.Namespace) }}
{{- $skipped = append $skipped (include "podpilot.crdFileKey" $crd) }}
{{- end }}
{{- end }}
{{- end }}
{{- join "," $skipped }}
{{- end }}
