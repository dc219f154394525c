{{/*
One Deployment of the operator. Call with (dict "ctx" $ "name" ... "component" ... "controllers"
"a,b" "serviceAccount" ... "selectorLabels" (YAML text) "peeringName" ... "leaseName" ...): the
operator's own, and the emptyDir audit's when it runs apart (controllers.emptydir.ownDeployment).
*/}}
{{- define "podpilot.deployment" -}}
{{- $ctx := .ctx }}
{{- $kubeletCa := and (has "emptydir" (splitList "," .controllers)) $ctx.Values.controllers.emptydir.kubelet.caBundle }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "podpilot.labels" $ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ $ctx.Values.replicaCount }}
  {{- $autoscaler := has "autoscaler" (splitList "," .controllers) }}
  {{- $sharded := and $autoscaler (include "podpilot.shards" $ctx) }}
  {{- if $sharded }}
  # Sharded: an upgrade may change the shard count (replicaCount), and replicas of two counts
  # put an Autoscaler in two different shards; the old pods are gone before new ones start.
  strategy:
    type: Recreate
  {{- else if and $ctx.Values.peering.enabled (or (include "podpilot.leaderElection" $ctx) (not $autoscaler)) }}
  # A new pod starts as standby (the Lease, or kopf's peering for kopf's handlers); the old
  # one hands over when it stops.
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  {{- else }}
  # Two pods would both act: never run the old and new one together. kopf's peering pauses
  # only kopf's handlers, and the Autoscaler's loops are not kopf's: without the Lease they
  # would act in both.
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- .selectorLabels | nindent 6 }}
  template:
    metadata:
      {{- /* The labels of every object (podpilot.labels: helm.sh/chart, version, managed-by,
      part-of, commonLabels) on the pods too. The selector and component win over podLabels,
      which win over the others; the selector itself stays the selector labels alone. */}}
      {{- $podLabels := merge (.selectorLabels | fromYaml) (dict "app.kubernetes.io/component" .component) (deepCopy (default dict $ctx.Values.podLabels)) (include "podpilot.labels" $ctx | fromYaml) }}
      labels:
        {{- toYaml $podLabels | nindent 8 }}
      {{- with $ctx.Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ .serviceAccount | quote }}
      automountServiceAccountToken: true
      {{- with $ctx.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.priorityClassName }}
      priorityClassName: {{ . | quote }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $ctx.Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: operator
          image: {{ include "podpilot.image" $ctx | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          command: [podpilot]
          args:
            - run
            - --controllers={{ .controllers }}
            - --metrics-port={{ $ctx.Values.metrics.port }}
            - --health-port={{ $ctx.Values.health.port }}
            - --log-format={{ $ctx.Values.logFormat }}
            - --api-timeout={{ $ctx.Values.apiTimeout }}
            {{- if has "autoscaler" (splitList "," .controllers) }}
            {{- with $ctx.Values.controllers.autoscaler.prometheus }}
            - --prometheus-max-response-bytes={{ int64 .maxResponseBytes }}
            - --prometheus-max-series={{ int64 .maxSeries }}
            - --prometheus-max-query-seconds={{ .maxQuerySeconds }}
            - --prometheus-per-server-concurrency={{ int64 .perServerConcurrency }}
            - --prometheus-per-namespace-concurrency={{ int64 .perNamespaceConcurrency }}
            {{- range .allowedURLs }}
            - {{ printf "--prometheus-allowed-url=%s" . | quote }}
            {{- end }}
            {{- end }}
            {{- end }}
            {{- if has "flannel" (splitList "," .controllers) }}
            - --flannel-configmap-namespace={{ $ctx.Values.controllers.flannel.namespace }}
            {{- end }}
            {{- if has "emptydir" (splitList "," .controllers) }}
            {{- with $ctx.Values.controllers.emptydir.kubelet }}
            {{- if .caBundle }}
            - --kubelet-certificate-authority=/etc/podpilot/kubelet-ca/ca.crt
            {{- end }}
            {{- if .insecureTLS }}
            - --kubelet-insecure-tls
            {{- end }}
            {{- end }}
            {{- end }}
            {{- if $ctx.Values.peering.enabled }}
            - --peering-name={{ .peeringName }}
            {{- with $ctx.Values.peering.lifetime }}
            - --peering-lifetime={{ . }}
            {{- end }}
            {{- if include "podpilot.leaderElection" $ctx }}
            - --leader-election-namespace={{ $ctx.Release.Namespace }}
            - --leader-election-lease-name={{ .leaseName }}
            - --leader-election-lease-duration={{ $ctx.Values.leaderElection.leaseDuration }}
            - --leader-election-renew-deadline={{ $ctx.Values.leaderElection.renewDeadline }}
            - --leader-election-retry-period={{ $ctx.Values.leaderElection.retryPeriod }}
            {{- with $sharded }}
            - --shards={{ . }}
            {{- end }}
            {{- else }}
            - --no-leader-election
            {{- end }}
            {{- else }}
            - --standalone
            {{- end }}
            {{- range $ctx.Values.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          env:
            # kopf names this replica's peering record after the pod.
            - name: POD_ID
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            # The leader election identity is the pod's name and a random suffix.
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            {{- with $ctx.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: health
              containerPort: {{ $ctx.Values.health.port }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $ctx.Values.metrics.port }}
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /healthz
              port: health
            {{- toYaml $ctx.Values.health.livenessProbe | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /healthz
              port: health
            {{- toYaml $ctx.Values.health.readinessProbe | nindent 12 }}
          resources:
            {{- toYaml $ctx.Values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if $kubeletCa }}
            - name: kubelet-ca
              mountPath: /etc/podpilot/kubelet-ca
              readOnly: true
            {{- end }}
      volumes:
        # The root file system is read-only; Python and kopf only need a writable /tmp.
        - name: tmp
          emptyDir:
            sizeLimit: {{ $ctx.Values.tmpSizeLimit }}
        {{- if $kubeletCa }}
        - name: kubelet-ca
          configMap:
            name: {{ printf "%s-kubelet-ca" (include "podpilot.fullname" $ctx) | quote }}
        {{- end }}
      {{- with $ctx.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.topologySpreadConstraints }}
      {{- /* A constraint without a labelSelector counts this Deployment's pods (as
      external-dns's chart does): one value serves the operator and the audit. */}}
      topologySpreadConstraints:
        {{- range . }}
        {{- $constraint := deepCopy . }}
        {{- if not (hasKey $constraint "labelSelector") }}
        {{- $_ := set $constraint "labelSelector" (dict "matchLabels" ($.selectorLabels | fromYaml)) }}
        {{- end }}
        - {{ toYaml $constraint | nindent 10 | trim }}
        {{- end }}
      {{- end }}
      {{- if $ctx.Values.affinity }}
      affinity:
        {{- toYaml $ctx.Values.affinity | nindent 8 }}
      {{- else if gt (int $ctx.Values.replicaCount) 1 }}
      # Spread replicas over nodes so one node failure does not take active and standby.
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- .selectorLabels | nindent 20 }}
      {{- end }}
{{- end }}
