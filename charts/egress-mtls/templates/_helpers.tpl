{{/* Names ------------------------------------------------------------------- */}}

{{- define "egress-mtls.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>", or the release name when it already contains the chart name. */}}
{{- define "egress-mtls.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<suffix>", at most 52 characters (a CronJob name's limit). Call with (list . "suffix"). */}}
{{- define "egress-mtls.component" -}}
{{- $ctx := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- printf "%s-%s" (include "egress-mtls.fullname" $ctx | trunc (int (sub 51 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}

{{- define "egress-mtls.webhookName" -}}{{ include "egress-mtls.component" (list . "webhook") }}{{- end -}}
{{- define "egress-mtls.tlsSecretName" -}}{{ include "egress-mtls.component" (list . "webhook-tls") }}{{- end -}}
{{- define "egress-mtls.configMapName" -}}{{ include "egress-mtls.component" (list . "config") }}{{- end -}}
{{- define "egress-mtls.certsName" -}}{{ include "egress-mtls.component" (list . "certs") }}{{- end -}}
{{- define "egress-mtls.certsHookName" -}}{{ include "egress-mtls.component" (list . "certs-hook") }}{{- end -}}
{{- define "egress-mtls.certificateName" -}}{{ include "egress-mtls.component" (list . "webhook") }}{{- end -}}
{{- define "egress-mtls.monitorName" -}}{{ include "egress-mtls.component" (list . "monitor") }}{{- end -}}
{{- define "egress-mtls.provisionName" -}}{{ include "egress-mtls.component" (list . "provision") }}{{- end -}}
{{/* The MutatingWebhookConfiguration is cluster-scoped: one per release. */}}
{{- define "egress-mtls.webhookConfigName" -}}{{ include "egress-mtls.fullname" . }}{{- end -}}
{{/* The webhook's name inside the configuration (a domain name, as the API requires). */}}
{{- define "egress-mtls.admissionWebhookName" -}}workloads.egress-mtls.io{{- end -}}

{{/* Labels ------------------------------------------------------------------ */}}

{{- define "egress-mtls.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of a part. Call with (list . "webhook"). */}}
{{- define "egress-mtls.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ include "egress-mtls.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The recommended labels of a part, and commonLabels (which cannot replace them). Call with (list . "webhook"). */}}
{{- define "egress-mtls.labels" -}}
{{- $ctx := index . 0 -}}
{{- $own := include "egress-mtls.selectorLabels" . | fromYaml -}}
{{- $_ := set $own "app.kubernetes.io/version" (toString $ctx.Chart.AppVersion) -}}
{{- $_ := set $own "app.kubernetes.io/part-of" "egress-mtls" -}}
{{- $_ := set $own "app.kubernetes.io/managed-by" $ctx.Release.Service -}}
{{- $_ := set $own "helm.sh/chart" (include "egress-mtls.chart" $ctx) -}}
{{- toYaml (merge $own ($ctx.Values.commonLabels | default dict)) -}}
{{- end -}}

{{/* Webhook selection ------------------------------------------------------- */}}

{{/* Never injected, in every mode: as a JSON list. */}}
{{- define "egress-mtls.excludedNamespaces" -}}
{{- $c := .Values.config -}}
{{- $always := list "kube-system" "kube-public" "kube-node-lease" (default "istio-system" $c.meshRootNamespace) .Release.Namespace -}}
{{- concat $always (default list $c.excludeNamespaces) | uniq | toJson -}}
{{- end -}}

{{- define "egress-mtls.injection" -}}
{{- default "label" .Values.config.injection -}}
{{- end -}}

{{/* Fail where only opted-in workloads wait for the webhook; Ignore in cluster mode. */}}
{{- define "egress-mtls.failurePolicy" -}}
{{- if .Values.webhook.failurePolicy -}}
{{- .Values.webhook.failurePolicy -}}
{{- else if eq (include "egress-mtls.injection" .) "cluster" -}}
Ignore
{{- else -}}
Fail
{{- end -}}
{{- end -}}

{{/* The caBundle the certs Job set on the live configuration, kept across upgrades (empty in `helm template`). */}}
{{- define "egress-mtls.existingCaBundle" -}}
{{- $live := lookup "admissionregistration.k8s.io/v1" "MutatingWebhookConfiguration" "" (include "egress-mtls.webhookConfigName" .) -}}
{{- $wanted := include "egress-mtls.admissionWebhookName" . -}}
{{- range (dig "webhooks" list $live) -}}
{{- if eq (dig "name" "" .) $wanted -}}
{{- dig "clientConfig" "caBundle" "" . -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pods ---------------------------------------------------------------------- */}}

{{/* The image of every part: [global.imageRegistry/]repository, then @digest or :tag (default: appVersion). */}}
{{- define "egress-mtls.image" -}}
{{- $repo := .Values.image.repository -}}
{{- with (.Values.global).imageRegistry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The metadata of a pod template. Call with (list . "webhook" | "certs" | "provision").
No pod of the chart gets an Istio sidecar: an injected Job never completes (istio-proxy
keeps running without native sidecars), and under STRICT mTLS the API server could not
reach an injected webhook. The label keeps the pods away from istiod's injection webhook
altogether; the annotation covers Istio versions that read only the annotation.
*/}}
{{- define "egress-mtls.podMetadata" -}}
{{- $ := index . 0 -}}
{{- $part := index . 1 -}}
{{- $v := index $.Values $part -}}
{{- $labels := merge (dict "sidecar.istio.io/inject" "false") (include "egress-mtls.labels" (list $ $part) | fromYaml) ($v.podLabels | default dict) ($.Values.podLabels | default dict) -}}
{{- $annotations := merge (dict "sidecar.istio.io/inject" "false") ($v.podAnnotations | default dict) ($.Values.podAnnotations | default dict) -}}
{{- if and (has $part (list "webhook" "monitor")) $.Values.metrics.scrapeAnnotations -}}
{{- $_ := set $annotations "prometheus.io/scrape" "true" -}}
{{- $_ := set $annotations "prometheus.io/port" (toString $v.metricsPort) -}}
{{- $_ := set $annotations "prometheus.io/path" "/metrics" -}}
{{- end -}}
labels:
  {{- toYaml $labels | nindent 2 }}
annotations:
  {{- toYaml $annotations | nindent 2 }}
{{- end -}}

{{/*
What every pod spec of the chart shares: pull secrets, placement, priority, the pod
security context. A part's non-empty nodeSelector, tolerations, affinity and
priorityClassName replace the chart-wide ones; its podSecurityContext is merged over the
chart-wide one. Call with (list . PART).
*/}}
{{- define "egress-mtls.podSpecCommon" -}}
{{- $ := index . 0 -}}
{{- $v := index $.Values (index . 1) -}}
{{- with concat (($.Values.global).imagePullSecrets | default list) ($.Values.imagePullSecrets | default list) | uniq }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.priorityClassName | default $.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector | default $.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations | default $.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity | default $.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml (mergeOverwrite (deepCopy ($.Values.podSecurityContext | default dict)) ($v.podSecurityContext | default dict)) | nindent 2 }}
{{- end -}}

{{/* A part's container security context: the chart-wide one, the part's merged over it. Call with (list . PART). */}}
{{- define "egress-mtls.containerSecurityContext" -}}
{{- $ := index . 0 -}}
{{- $v := index $.Values (index . 1) -}}
{{- toYaml (mergeOverwrite (deepCopy ($.Values.containerSecurityContext | default dict)) ($v.containerSecurityContext | default dict)) -}}
{{- end -}}

{{/* A part's container args: ARGS (a list) then the part's extraArgs. Call with (list . PART ARGS). */}}
{{- define "egress-mtls.args" -}}
{{- $ := index . 0 -}}
{{- $v := index $.Values (index . 1) -}}
{{- toYaml (concat (index . 2) ($v.extraArgs | default list)) -}}
{{- end -}}

{{/*
The pod template of a Job (hook Jobs and CronJobs alike). Call with a dict:
  root: ., component: "certs" | "provision", serviceAccount: NAME, args: [..], config: bool
*/}}
{{- define "egress-mtls.jobPodTemplate" -}}
{{- $ := .root -}}
{{- $v := index $.Values .component -}}
metadata:
  {{- include "egress-mtls.podMetadata" (list $ .component) | nindent 2 }}
spec:
  serviceAccountName: {{ .serviceAccount }}
  # certs and provision call the Kubernetes API (the webhook alone has no token).
  automountServiceAccountToken: true
  restartPolicy: Never
  {{- include "egress-mtls.podSpecCommon" (list $ .component) | trim | nindent 2 }}
  containers:
    - name: {{ .component }}
      image: {{ include "egress-mtls.image" $ | quote }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      args:
        {{- include "egress-mtls.args" (list $ .component .args) | nindent 8 }}
      {{- with $v.extraEnv }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "egress-mtls.containerSecurityContext" (list $ .component) | nindent 8 }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      {{- if .config }}
      volumeMounts:
        - name: config
          mountPath: /config
          readOnly: true
      {{- end }}
  {{- if .config }}
  volumes:
    - name: config
      configMap:
        name: {{ include "egress-mtls.configMapName" $ }}
  {{- end }}
{{- end -}}

{{- define "egress-mtls.certsArgs" -}}
{{- toJson (list "certs"
  "--namespace" .Release.Namespace
  "--service" (include "egress-mtls.webhookName" .)
  "--secret" (include "egress-mtls.tlsSecretName" .)
  "--webhook" (include "egress-mtls.webhookConfigName" .)
  "--ca-validity-days" (toString (int .Values.certs.caValidityDays))
  "--leaf-validity-days" (toString (int .Values.certs.leafValidityDays))
  "--renew-fraction" (toString .Values.certs.renewFraction)) -}}
{{- end -}}

{{- define "egress-mtls.provisionArgs" -}}
{{- toJson (list "provision" "--config" "/config/config.yaml" "--instance" .Release.Name "--timeout" (toString (int .Values.provision.timeoutSeconds))) -}}
{{- end -}}

{{/* RBAC ---------------------------------------------------------------------- */}}

{{/*
The certs part's ServiceAccount and rights: its Secret (get/update by name, and delete for
the uninstall hook; create cannot be limited by resourceNames, since a create request names
no existing object: the admission policy refuses any other name) and its
MutatingWebhookConfiguration (get/patch by name).
Call with (list . NAME HOOK-ANNOTATIONS SECRET-VERBS).
*/}}
{{- define "egress-mtls.certsRbac" -}}
{{- $ := index . 0 -}}
{{- $name := index . 1 -}}
{{- $meta := index . 2 -}}
{{- $verbs := index . 3 -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "egress-mtls.labels" (list $ "certs") | nindent 4 }}
  {{- with $meta }}
  {{- . | nindent 2 }}
  {{- end }}
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "egress-mtls.labels" (list $ "certs") | nindent 4 }}
  {{- with $meta }}
  {{- . | nindent 2 }}
  {{- end }}
rules:
  - apiGroups: [""]
    resources: [secrets]
    resourceNames: [{{ include "egress-mtls.tlsSecretName" $ }}]
    verbs: {{ $verbs | toJson }}
  - apiGroups: [""]
    resources: [secrets]
    verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "egress-mtls.labels" (list $ "certs") | nindent 4 }}
  {{- with $meta }}
  {{- . | nindent 2 }}
  {{- end }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $.Release.Namespace }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name }}
  labels:
    {{- include "egress-mtls.labels" (list $ "certs") | nindent 4 }}
  {{- with $meta }}
  {{- . | nindent 2 }}
  {{- end }}
rules:
  - apiGroups: [admissionregistration.k8s.io]
    resources: [mutatingwebhookconfigurations]
    resourceNames: [{{ include "egress-mtls.webhookConfigName" $ }}]
    verbs: [get, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "egress-mtls.labels" (list $ "certs") | nindent 4 }}
  {{- with $meta }}
  {{- . | nindent 2 }}
  {{- end }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $.Release.Namespace }}
{{- end -}}

{{- /*
A value (map, list, string, number, bool) as a CEL literal: the API server's CEL requires
homogeneous aggregate literals, so the values of a map and the elements of a list are
wrapped in dyn() unless they are all strings (JSON is then CEL already).
*/ -}}
{{- define "egress-mtls.celLiteral" -}}
{{- $strings := true -}}
{{- if or (kindIs "map" .) (kindIs "slice" .) -}}
{{- $items := . -}}
{{- if kindIs "map" . -}}{{- $items = values . -}}{{- end -}}
{{- range $items -}}{{- if not (kindIs "string" .) -}}{{- $strings = false -}}{{- end -}}{{- end -}}
{{- end -}}
{{- if $strings -}}
{{ toJson . }}
{{- else if kindIs "map" . -}}
{ {{- range $i, $k := keys . | sortAlpha }}{{ if $i }}, {{ end }}{{ toJson $k }}: dyn({{ include "egress-mtls.celLiteral" (get $ $k) }}){{ end -}} }
{{- else -}}
[ {{- range $i, $v := . }}{{ if $i }}, {{ end }}dyn({{ include "egress-mtls.celLiteral" $v }}){{ end -}} ]
{{- end -}}
{{- end -}}

{{- /*
A CEL list too long for one expression (the API server parses each up to 100,000
characters), as policy variables: (list NAME ITEMS), ITEMS CEL literals of at most 99,000
characters each, packed in order into NAME0, NAME1, ... of at most 90,000 characters, and
NAME, their concatenation.
*/ -}}
{{- define "egress-mtls.celListVariables" -}}
{{- $name := index . 0 -}}
{{- $chunks := list -}}
{{- $chunk := list -}}
{{- $size := 0 -}}
{{- range index . 1 -}}
{{- if and $chunk (gt (add $size (len .) 12) 90000) -}}
{{- $chunks = append $chunks $chunk -}}
{{- $chunk = list -}}
{{- $size = 0 -}}
{{- end -}}
{{- $chunk = append $chunk . -}}
{{- $size = add $size (len .) 12 -}}
{{- end -}}
{{- $chunks = append $chunks $chunk -}}
{{- $parts := list -}}
{{- range $i, $c := $chunks }}
- name: {{ $name }}{{ $i }}
  expression: >-
    [
      {{ join ",\n      " $c }}
    ]
{{- $parts = append $parts (printf "variables.%s%d" $name $i) -}}
{{- end }}
- name: {{ $name }}
  expression: {{ join " + " $parts | quote }}
{{- end -}}
