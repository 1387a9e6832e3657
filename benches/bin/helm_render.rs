//! `helm_render CHART_DIR [VALUES.yaml...]`: renders a chart with sealer's
//! Helm engine and prints it as the reference `helmrender` does (every
//! manifest but NOTES.txt and tests/, sorted by name, each after
//! `---\n# Source: NAME\n`), so the two outputs diff directly. Used by
//! benches/helm_render.sh and for debugging the engine against Helm.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: helm_render CHART_DIR [VALUES.yaml...]");
        return ExitCode::from(2);
    };
    // Deep template recursion needs a deep stack (the engine bounds it).
    let run = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn({
            let args = args.clone();
            let dir = dir.clone();
            move || render(&dir, &args[1..])
        })
        .map_err(|e| e.to_string())
        .and_then(|h| h.join().map_err(|_| "rendering panicked".to_string()));
    match run.and_then(|r| r) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn render(dir: &str, values: &[String]) -> Result<String, String> {
    let chart = sealer::helm::load_dir(std::path::Path::new(dir)).map_err(|e| e.to_string())?;
    let mut user_values = Vec::new();
    for f in values {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        user_values.push(sealer::helm::parse_values(&text).map_err(|e| format!("{f}: {e}"))?);
    }
    let opts = sealer::helm::RenderOptions {
        release_name: "release-name".into(),
        namespace: "default".into(),
        kube_version: None,
        user_values,
        // The reference helmrender passes no revision.
        revision: 0,
    };
    let release = sealer::helm::render(&chart, &opts).map_err(|e| e.to_string())?;
    let mut manifests = release.manifests;
    manifests.sort_by(|a, b| a.template.cmp(&b.template));
    let mut out = String::new();
    for m in manifests {
        if m.template.ends_with("NOTES.txt")
            || m.template.contains("/tests/")
            || m.text.trim().is_empty()
        {
            continue;
        }
        out.push_str(&format!("---\n# Source: {}\n{}\n", m.template, m.text));
    }
    Ok(out)
}
