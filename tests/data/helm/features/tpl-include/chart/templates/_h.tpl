{{- define "ti.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}
{{- define "ti.map" -}}
a: 1
b:
  c: 2
{{- end -}}
