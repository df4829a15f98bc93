{{/*
ironlb.fullname is the prefix of every object's name: the release name, or
fullnameOverride. With the release name "ironlb" (as in the README) the objects are
ironlb-controller, ironlb-speaker and ironlb-memberlist, the names config/ uses too.
*/}}
{{- define "ironlb.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "ironlb.controller.name" -}}{{ include "ironlb.fullname" . }}-controller{{- end -}}
{{- define "ironlb.speaker.name" -}}{{ include "ironlb.fullname" . }}-speaker{{- end -}}

{{/* ironlb.memberlist.secret is the Secret the speakers derive their gossip key from. */}}
{{- define "ironlb.memberlist.secret" -}}
{{- default (printf "%s-memberlist" (include "ironlb.fullname" .)) .Values.speaker.layer2.memberlist.existingSecret -}}
{{- end -}}

{{/* ironlb.labels go on every object the chart creates. */}}
{{- define "ironlb.labels" -}}
app.kubernetes.io/name: ironlb
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ironlb
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
ironlb.selector selects one component's pods. It must never change between chart
versions: a Deployment's and a DaemonSet's selector is immutable.
Call with (list $ "controller").
*/}}
{{- define "ironlb.selector" -}}
app.kubernetes.io/name: ironlb
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* ironlb.image is registry/name:tag; the tag defaults to the chart's appVersion. */}}
{{- define "ironlb.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $root.Values.image.registry) (index . 1) (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/*
The tlsConfig of the monitors: verify the metrics certificate against metrics.tls.ca when
it is set, else skip verification (the default certificates are self-signed at start, so
no CA could vouch for them; the bearer token still authenticates the scraper).
*/}}
{{- define "ironlb.metrics.tlsConfig" -}}
{{- $tls := .Values.metrics.tls -}}
tlsConfig:
  {{- if $tls.ca }}
  ca:
    {{- toYaml $tls.ca | nindent 4 }}
  {{- with $tls.serverName }}
  serverName: {{ . }}
  {{- end }}
  {{- else }}
  insecureSkipVerify: true
  {{- end }}
{{- end }}

{{/*
The metrics flags of both programs, and the certificate Secret's mount when
metrics.tls.certSecret is set.
*/}}
{{- define "ironlb.metrics.args" -}}
- --metrics-secure={{ .Values.metrics.secure }}
{{- if .Values.metrics.tls.certSecret }}
- --metrics-cert-dir=/etc/ironlb/metrics-tls
{{- end }}
{{- end }}
