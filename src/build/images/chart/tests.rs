//! Table tests of the chart scanner: values conventions, template lines,
//! subchart values.

use super::*;

fn chart(values: &str, templates: &[(&str, &str)]) -> Chart {
    Chart {
        dir: "charts/demo".into(),
        name: "demo".into(),
        app_version: Some("2.0.0".into()),
        version: Some("0.1.0".into()),
        values_text: values.into(),
        templates: templates
            .iter()
            .map(|(p, t)| (format!("charts/demo/templates/{p}"), t.to_string()))
            .collect(),
        subcharts: Vec::new(),
    }
}

fn refs(found: &[Found]) -> Vec<String> {
    let mut v: Vec<String> = found.iter().map(|f| f.text.clone()).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn values_conventions() {
    let values = "\
image:
  repository: nginx
  tag: \"1.25\"
  pullPolicy: IfNotPresent
sidecar:
  image:
    registry: quay.io
    repository: prometheus/node-exporter
    tag: v1.7.0
    digest: \"\"
bitnamiStyle:
  image:
    registry: docker.io
    repository: bitnami/redis
    digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
controller:
  image:
    registry: registry.k8s.io
    image: ingress-nginx/controller
    tag: v1.9.4
noTag:
  image:
    repository: busybox
oldStyle:
  image: jenkins/jenkins
  imageTag: lts
plain:
  initImage: alpine:3.19
  agentImage: \"{{ .Values.x }}\"
  image: \"\"
unrelated:
  repository: https://charts.example.com
lists:
  - name: a
    image: redis:7
";
    let c = chart(values, &[]);
    let mut warn = Vec::new();
    let found = chart_images(&c, None, &mut warn);
    assert!(warn.is_empty(), "{warn:?}");
    assert_eq!(
        refs(&found),
        [
            "alpine:3.19",
            "busybox:2.0.0",
            "docker.io/bitnami/redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "jenkins/jenkins:lts",
            "nginx:1.25",
            "quay.io/prometheus/node-exporter:v1.7.0",
            "redis:7",
            "registry.k8s.io/ingress-nginx/controller:v1.9.4",
        ]
    );
    let nginx = found.iter().find(|f| f.text == "nginx:1.25").unwrap();
    assert_eq!(
        nginx.source.to_string(),
        "charts/demo/values.yaml:2 (values: image)"
    );
}

#[test]
fn global_image_registry_overrides() {
    let values = "global:\n  imageRegistry: mirror.local:5000\nimage:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.25.3\n";
    let found = chart_images(&chart(values, &[]), None, &mut Vec::new());
    assert_eq!(refs(&found), ["mirror.local:5000/bitnami/nginx:1.25.3"]);
}

#[test]
fn template_lines_render_with_values() {
    let values =
        "image:\n  repository: nginx\n  tag: \"\"\nhelper:\n  name: busybox\n  version: 1.36\n";
    let deploy = "\
spec:
  containers:
  - name: web
    image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}\"
  - name: helper
    image: {{ printf \"%s:%s\" .Values.helper.name (.Values.helper.version) }}
  - name: literal
    image: docker.io/library/alpine:3.19
  - name: quoted
    image: {{ .Values.helper.name | quote }}
";
    let mut warn = Vec::new();
    let found = chart_images(&chart(values, &[("deploy.yaml", deploy)]), None, &mut warn);
    // The printf line uses parentheses: not rendered, and said so.
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(
        warn[0].contains("charts/demo/templates/deploy.yaml:6")
            && warn[0].contains("its images come from values.yaml"),
        "{warn:?}"
    );
    assert_eq!(
        refs(&found),
        ["busybox", "docker.io/library/alpine:3.19", "nginx:2.0.0"]
    );
    let rendered = found.iter().find(|f| f.text == "nginx:2.0.0").unwrap();
    assert_eq!(rendered.source.line, Some(4));
}

#[test]
fn unsupported_actions_fall_back_to_values() {
    let values = "image:\n  repository: nginx\n  tag: 1.25\n";
    let deploy = "image: {{ include \"demo.image\" . }}\n";
    let mut warn = Vec::new();
    let found = chart_images(&chart(values, &[("d.yaml", deploy)]), None, &mut warn);
    assert_eq!(refs(&found), ["nginx:1.25"]);
    assert!(
        warn[0].starts_with("chart charts/demo cannot be rendered"),
        "{warn:?}"
    );
}

#[test]
fn subcharts_take_parent_values() {
    let mut parent = chart(
        "redis:\n  image:\n    tag: 7.2-parent\nglobal:\n  imageRegistry: mirror.local\n",
        &[],
    );
    let mut sub = chart("image:\n  repository: redis\n  tag: 7.0\n", &[]);
    sub.dir = "charts/demo/charts/redis".into();
    sub.name = "redis".into();
    parent.subcharts.push(sub);
    let found = chart_images(&parent, Some("app"), &mut Vec::new());
    assert_eq!(refs(&found), ["mirror.local/redis:7.2-parent"]);
    assert_eq!(found[0].source.app.as_deref(), Some("app"));
    assert!(found[0]
        .source
        .file
        .starts_with("charts/demo/charts/redis/"));
}

#[test]
fn render_table() {
    let c = chart("a:\n  b: x\n  n: 3\n", &[]);
    let values: Value = serde_yaml::from_str(&c.values_text).unwrap();
    let ctx = Ctx {
        chart: &c,
        values: &values,
    };
    let ok = [
        ("{{ .Values.a.b }}", "x"),
        ("r/{{- .Values.a.b -}}:{{ .Values.a.n }}", "r/x:3"),
        ("{{ .Values.missing | default \"d\" }}", "d"),
        ("{{ default \"d\" .Values.a.b }}", "x"),
        ("{{ .Chart.Name }}:{{ .Chart.Version }}", "demo:0.1.0"),
        (
            "{{ printf \"%s-%v\" .Values.a.b .Values.a.n | upper }}",
            "X-3",
        ),
        ("{{ .Values.a.b | quote }}", "\"x\""),
    ];
    for (t, want) in ok {
        assert_eq!(render(&ctx, t).as_deref(), Ok(want), "{t}");
    }
    for bad in [
        "{{ include \"x\" . }}",
        "{{ .repository }}",
        "{{ $x }}",
        "{{ .Values.a }}",
        "{{ toYaml .Values.a }}",
        "{{ .Values.a.b",
        "{{ required \"need it\" .Values.none }}",
    ] {
        assert!(render(&ctx, bad).is_err(), "{bad} must be refused");
    }
}
