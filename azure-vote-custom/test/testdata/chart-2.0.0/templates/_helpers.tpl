{{/*
Names are capped at 45 characters so that "<fullname>-redis" stays within the
52 characters a StatefulSet name may have (its pods get a revision label).
*/}}
{{- define "azure-vote.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 45 | trimSuffix "-" }}
{{- end }}

{{- define "azure-vote.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "azure-vote.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "azure-vote.labels" -}}
helm.sh/chart: {{ include "azure-vote.chart" . }}
app.kubernetes.io/name: {{ include "azure-vote.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: azure-vote
{{- end }}

{{/* Selector labels; the caller adds app.kubernetes.io/component. */}}
{{- define "azure-vote.selectorLabels" -}}
app.kubernetes.io/name: {{ include "azure-vote.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "azure-vote.redisName" -}}
{{- printf "%s-redis" (include "azure-vote.fullname" .) }}
{{- end }}

{{- define "azure-vote.redisSecretName" -}}
{{- .Values.redis.auth.existingSecret | default (include "azure-vote.redisName" .) }}
{{- end }}

{{- define "azure-vote.redisSecretKey" -}}
{{- if .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecretKey | default "redis-password" }}
{{- else }}
{{- "redis-password" }}
{{- end }}
{{- end }}

{{/*
The Redis password: the one given, else the one already in the cluster (so an
upgrade never locks the app out of its own data), else a new random one.
*/}}
{{- define "azure-vote.redisPassword" -}}
{{- $password := .Values.redis.auth.password }}
{{- if not $password }}
{{- $current := lookup "v1" "Secret" .Release.Namespace (include "azure-vote.redisName" .) }}
{{- $encoded := dig "data" "redis-password" "" ($current | default dict) }}
{{- if $encoded }}
{{- $password = b64dec $encoded }}
{{- end }}
{{- end }}
{{- $password | default (randAlphaNum 32) }}
{{- end }}

{{/*
Checks that the schema cannot express; failing here beats a pod that crashes
at start with the same message.
*/}}
{{- define "azure-vote.validate" -}}
{{- if eq .Values.value1 .Values.value2 }}
{{- fail "value1 and value2 must differ" }}
{{- end }}
{{- if or (eq .Values.getvalue .Values.value1) (eq .Values.getvalue .Values.value2) }}
{{- fail "getvalue must differ from value1 and value2" }}
{{- end }}
{{- if and .Values.redis.auth.password .Values.redis.auth.existingSecret }}
{{- fail "set redis.auth.password or redis.auth.existingSecret, not both" }}
{{- end }}
{{- end }}
