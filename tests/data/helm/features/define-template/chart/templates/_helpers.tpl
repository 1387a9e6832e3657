{{- define "dt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "dt.labels" -}}
app.kubernetes.io/name: {{ include "dt.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}
{{- define "dt.withArgs" -}}
{{ .a }}+{{ .b }}={{ add .a .b }}
{{- end }}
{{- define "dt.list" -}}
- one
- two
{{- end }}
{{- define "dt.returnsDict" -}}
{{ toYaml (dict "k" "v" "n" 1) }}
{{- end }}
