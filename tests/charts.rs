//! Helm charts in a build, end to end with the real binary: rendered as
//! Helm renders them (helper templates, subcharts with the parent's values,
//! disabled parts, test hooks), `--chart-values`, `--list-images --format
//! json` naming chart, template, line, resource and field, the image's
//! KUBEVERSION as `.Capabilities`, and a chart Helm refuses failing the
//! build with Helm's message, the store unchanged. The template engine
//! itself is checked against Helm's own output in `src/helm/tests.rs`.

use crate::util::{assert_mentions, Env};

/// A helm application: a chart with a helper template and a subchart whose
/// values the parent overrides, a disabled component and a test hook.
fn db_app() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "application/apps/db/Chart.yaml",
            "apiVersion: v2\nname: db\nversion: 1.0.0\nappVersion: \"16\"\n",
        ),
        (
            "application/apps/db/values.yaml",
            "image:\n  repository: postgres\nredis:\n  image:\n    tag: 7.2-from-parent\n",
        ),
        (
            "application/apps/db/templates/_helpers.tpl",
            "{{- define \"db.image\" -}}\n{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}\n{{- end }}\n",
        ),
        (
            "application/apps/db/templates/sts.yaml",
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{ .Release.Name }}-db\nspec:\n  template:\n    spec:\n      containers:\n      - name: db\n        image: {{ include \"db.image\" . }}\n",
        ),
        (
            "application/apps/db/templates/tests/conn.yaml",
            "kind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n  - image: busybox:test\n",
        ),
        (
            "application/apps/db/charts/redis/Chart.yaml",
            "apiVersion: v2\nname: redis\nversion: 1.0.0\n",
        ),
        (
            "application/apps/db/charts/redis/values.yaml",
            "image:\n  repository: redis\n  tag: \"7.0\"\nmetrics:\n  enabled: false\n  image: redis-exporter:1\n",
        ),
        (
            "application/apps/db/charts/redis/templates/deploy.yaml",
            "kind: Deployment\nmetadata:\n  name: redis\nspec:\n  template:\n    spec:\n      containers:\n      - image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n{{- if .Values.metrics.enabled }}\n      - image: {{ .Values.metrics.image }}\n{{- end }}\n",
        ),
    ]
}

#[test]
fn list_images_renders_application_charts_with_subcharts_and_reads_every_yaml() {
    let env = Env::new();
    let mut files = vec![
        ("Kubefile", "FROM scratch\nCOPY . .\n"),
        // A kube application: every yaml of it.
        (
            "application/apps/web/deploy.yml",
            "spec:\n  containers:\n  - image: nginx:1.25\n",
        ),
        (
            "application/apps/web/more/job.tmpl",
            "{{ if .x }}\n  image: busybox # x\n{{ end }}\n",
        ),
        // Not an image: keys that only look alike, and other files.
        (
            "manifests/cm.yaml",
            "data:\n  imagePullPolicy: Always\n  images: [a, b]\n",
        ),
        ("manifests/README.md", "image: not-read\n"),
    ];
    files.extend(db_app());
    let ctx = env.context("apps", &files);
    let ignore = env.write("ignore.txt", "docker.io/library/busybox:latest\n");
    let out = env
        .sealer()
        .args(["build", "--list-images", "--ignored-image-list"])
        .arg(&ignore)
        .arg(&ctx)
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "docker.io/library/redis:7.2-from-parent\tapplication/apps/db/charts/redis/templates/deploy.yaml:8 (Deployment/redis spec.template.spec.containers[0].image)",
            "docker.io/library/postgres:16\tapplication/apps/db/templates/sts.yaml:10 (StatefulSet/release-name-db spec.template.spec.containers[0].image)",
            "docker.io/library/nginx:1.25\tapplication/apps/web/deploy.yml:3",
        ],
        "{}",
        out.stderr
    );

    // The site's values, as `helm install -f` merges them: the disabled
    // metrics exporter is enabled and the database's tag pinned.
    let site = env.write(
        "site.yaml",
        "image:\n  tag: \"16.4\"\nredis:\n  metrics:\n    enabled: true\n",
    );
    let site = site.to_str().expect("utf-8");
    let out = env
        .sealer()
        .args([
            "build",
            "--list-images",
            "--format",
            "json",
            "--chart-values",
        ])
        .arg(format!("db={site}"))
        .arg(&ctx)
        .ok();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let images: Vec<&str> = json
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["image"].as_str().expect("image"))
        .collect();
    assert_eq!(
        images,
        [
            "docker.io/library/redis:7.2-from-parent",
            "docker.io/library/redis-exporter:1",
            "docker.io/library/postgres:16.4",
            "docker.io/library/nginx:1.25",
            "docker.io/library/busybox:latest",
        ],
        "{}",
        out.stdout
    );
    let exporter = &json[1]["sources"][0];
    assert_eq!(exporter["chart"], "application/apps/db");
    assert_eq!(exporter["resource"], "Deployment/redis");
    assert_eq!(exporter["field"], "spec.template.spec.containers[1].image");
    assert_eq!(
        exporter["file"],
        "application/apps/db/charts/redis/templates/deploy.yaml"
    );

    // Values for a chart the rootfs lacks are refused, naming it.
    let err = env
        .sealer()
        .args(["build", "--list-images", "--chart-values"])
        .arg(format!("nosuch={site}"))
        .arg(&ctx)
        .fails();
    assert_mentions(
        &err,
        &["error: ", "--chart-values nosuch=", "no chart \"nosuch\""],
    );
}

#[test]
fn a_chart_helm_cannot_render_fails_the_build_naming_chart_template_and_line() {
    let env = Env::new();
    let ctx = env.context(
        "badchart",
        &[
            ("Kubefile", "FROM scratch\nCOPY . .\n"),
            ("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n"),
            ("charts/web/values.yaml", "image: {}\n"),
            (
                "charts/web/templates/deploy.yaml",
                "kind: Deployment\nspec:\n  image: {{ required \"image.tag is required\" .Values.image.tag }}\n",
            ),
        ],
    );
    env.run(&["images"]);
    let before = env.snapshot();
    let err = env
        .sealer()
        .args(["build", "-t", "bad:1"])
        .arg(&ctx)
        .fails();
    before.assert_same(&env.snapshot(), "the store after a failed build");
    assert_mentions(
        &err,
        &[
            "error: ",
            "chart charts/web",
            "web/templates/deploy.yaml:3:",
            "image.tag is required",
        ],
    );
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
}

#[test]
fn charts_see_the_images_kubeversion_as_capabilities() {
    let env = Env::new();
    let chart = [
        ("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n"),
        ("charts/web/values.yaml", "{}\n"),
        (
            "charts/web/templates/deploy.yaml",
            "kind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - image: {{ if semverCompare \">=1.22-0\" .Capabilities.KubeVersion.Version }}new:{{ .Capabilities.KubeVersion.Minor }}{{ else }}old:{{ .Capabilities.KubeVersion.Minor }}{{ end }}\n",
        ),
    ];
    let list = |name: &str, kubefile: &str| {
        let mut files = vec![("Kubefile", kubefile)];
        files.extend(chart);
        let ctx = env.context(name, &files);
        let out = env.sealer().args(["build", "--list-images"]).arg(&ctx).ok();
        out.stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list("k122", "FROM scratch\nKUBEVERSION v1.22.15\nCOPY . .\n"),
        ["docker.io/library/new:22"]
    );
    // Without KUBEVERSION, Helm's default (v1.20.0).
    assert_eq!(
        list("nokube", "FROM scratch\nCOPY . .\n"),
        ["docker.io/library/old:20"]
    );
}
