//! A chart in memory and Helm 3.9's loader (`chart/loader`): from the files
//! of a chart directory (as `(relative path, bytes)`, so the caller may read
//! them from anywhere, e.g. a ClusterImage's rootfs) to a [`Chart`] tree.
//!
//! ```text
//! chart/                      -> Chart
//!   .helmignore               rules applied to every path below (top only)
//!   Chart.yaml                -> metadata (requirements.yaml: v1 deps)
//!   values.yaml               -> values
//!   templates/**              -> templates (dotfiles ignored)
//!   charts/NAME/** | NAME.tgz -> dependencies (names starting _ or . skipped)
//!   anything else             -> files (.Files), with requirements.* of v1
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use super::archive::{archive_files, ArchiveError};
use super::ignore::{IgnoreError, Rules, HELM_IGNORE};
use super::metadata::Metadata;
use super::values::parse_values;
use super::yaml::Go;
use crate::gotmpl::Value;

/// One file of a chart.
#[derive(Clone, Debug)]
pub struct File {
    /// Path relative to the chart's root, `/`-separated.
    pub name: String,
    /// Contents.
    pub data: Rc<[u8]>,
}

/// A loaded chart and its subcharts.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Chart.yaml.
    pub metadata: Metadata,
    /// values.yaml (an empty map when absent).
    pub values: Value,
    /// templates/*.
    pub templates: Vec<File>,
    /// Every other file (`.Files`).
    pub files: Vec<File>,
    /// Subcharts from charts/, by directory or archive name.
    pub dependencies: Vec<Chart>,
    /// values.schema.json, when the chart has one.
    pub schema: Option<Rc<[u8]>>,
}

/// Why a chart could not be loaded, with Helm's wording.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file of the chart does not decode.
    #[error("chart {chart:?}: cannot load {file}: {msg}")]
    File {
        /// The chart (its name, or the path it was loaded from).
        chart: String,
        /// The file, relative to the chart.
        file: String,
        /// What is wrong.
        msg: String,
    },
    /// The chart has no Chart.yaml.
    #[error("chart {chart:?}: Chart.yaml file is missing")]
    NoChartYaml {
        /// The chart (the path it was loaded from).
        chart: String,
    },
    /// Chart.yaml fails Helm's validation.
    #[error("chart {chart:?}: {msg}")]
    Invalid {
        /// The chart.
        chart: String,
        /// Helm's message (`validation: chart.metadata.name is required`).
        msg: String,
    },
    /// A subchart in charts/ does not load.
    #[error("error unpacking {sub} in {chart}: {source}")]
    Subchart {
        /// The parent chart's name.
        chart: String,
        /// The entry of charts/.
        sub: String,
        /// Why.
        source: Box<LoadError>,
    },
    /// A packaged subchart is not a chart archive.
    #[error("chart {chart:?}: {file}: {source}")]
    Archive {
        /// The chart holding the archive.
        chart: String,
        /// The archive, relative to that chart.
        file: String,
        /// Why.
        source: ArchiveError,
    },
    /// `.helmignore` holds a bad rule.
    #[error("chart {chart:?}: .helmignore: {source}")]
    Ignore {
        /// The chart.
        chart: String,
        /// Why.
        source: IgnoreError,
    },
    /// The chart directory cannot be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Loads a chart from the files of its directory, as Helm's `LoadDir` does:
/// the top `.helmignore` filters every path (templates' dotfiles always),
/// a UTF-8 BOM is dropped from each file. `label` names the chart in errors.
pub fn load_files(label: &str, files: Vec<(String, Vec<u8>)>) -> Result<Chart, LoadError> {
    let mut rules = match files.iter().find(|(n, _)| n == HELM_IGNORE) {
        Some((_, data)) => {
            Rules::parse(&String::from_utf8_lossy(data)).map_err(|source| LoadError::Ignore {
                chart: label.to_string(),
                source,
            })?
        }
        None => Rules::default(),
    };
    rules.add_defaults();
    let mut kept: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(name, _)| !ignored(&rules, name))
        .map(|(name, mut data)| {
            if data.starts_with(b"\xEF\xBB\xBF") {
                data.drain(..3);
            }
            (name, data)
        })
        .collect();
    kept.sort_by(|a, b| walk_order(&a.0, &b.0));
    load_buffered(label, kept)
}

/// Whether a path or one of its directories is ignored (a directory
/// ignored skips all it holds, as `filepath.SkipDir`).
fn ignored(rules: &Rules, name: &str) -> bool {
    let mut dirs = name.match_indices('/').map(|(i, _)| &name[..i]);
    dirs.any(|d| rules.ignore(d, true)) || rules.ignore(name, false)
}

/// The order `filepath.Walk` visits paths: component by component.
fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

/// Loads a chart directory from the real filesystem (tests, benches).
pub fn load_dir(dir: &Path) -> Result<Chart, LoadError> {
    let mut files = Vec::new();
    read_tree(dir, "", &mut files)?;
    load_files(&dir.display().to_string(), files)
}

fn read_tree(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), LoadError> {
    let io = |path: &Path, source| LoadError::Io {
        path: path.display().to_string(),
        source,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if std::fs::metadata(&path).map_err(|e| io(&path, e))?.is_dir() {
            read_tree(&path, &format!("{name}/"), out)?;
        } else {
            out.push((name, std::fs::read(&path).map_err(|e| io(&path, e))?));
        }
    }
    Ok(())
}

/// Helm's `LoadFiles`: files already filtered, named relative to the chart.
pub fn load_buffered(label: &str, files: Vec<(String, Vec<u8>)>) -> Result<Chart, LoadError> {
    let file_err = |file: &str, msg: String| LoadError::File {
        chart: label.to_string(),
        file: file.to_string(),
        msg,
    };
    let mut metadata: Option<Metadata> = None;
    if let Some((_, data)) = files.iter().find(|(n, _)| n == "Chart.yaml") {
        let doc = first_doc(data).map_err(|m| file_err("Chart.yaml", m))?;
        let mut m = Metadata::default();
        m.update(&doc).map_err(|m| file_err("Chart.yaml", m))?;
        if m.api_version.is_empty() {
            m.api_version = "v1".into();
        }
        metadata = Some(m);
    }
    let mut chart = Chart {
        metadata: Metadata::default(),
        values: Value::new_map(),
        templates: Vec::new(),
        files: Vec::new(),
        dependencies: Vec::new(),
        schema: None,
    };
    let mut subcharts: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (name, data) in files {
        let file = |name: String, data: Vec<u8>| File {
            name,
            data: Rc::from(data),
        };
        match name.as_str() {
            "values.schema.json" => chart.schema = Some(Rc::from(data)),
            "Chart.yaml" | "Chart.lock" | "requirements.lock" => {
                if name == "requirements.lock"
                    && metadata.as_ref().is_some_and(|m| m.api_version == "v1")
                {
                    chart.files.push(file(name, data));
                }
            }
            "values.yaml" => {
                let text = String::from_utf8_lossy(&data);
                chart.values = parse_values(&text).map_err(|m| file_err("values.yaml", m))?;
            }
            "requirements.yaml" => {
                let m = metadata.get_or_insert_with(Metadata::default);
                let doc = first_doc(&data).map_err(|e| file_err("requirements.yaml", e))?;
                m.update(&doc)
                    .map_err(|e| file_err("requirements.yaml", e))?;
                if m.api_version == "v1" {
                    chart.files.push(file(name, data));
                }
            }
            n if n.starts_with("templates/") => chart.templates.push(file(name, data)),
            n if n.starts_with("charts/") && !n.ends_with(".prov") => {
                let rest = &n["charts/".len()..];
                let cname = rest.split('/').next().unwrap_or(rest).to_string();
                let rest = rest.to_string();
                subcharts.entry(cname).or_default().push((rest, data));
            }
            _ => chart.files.push(file(name, data)),
        }
    }
    let Some(mut metadata) = metadata else {
        return Err(LoadError::NoChartYaml {
            chart: label.to_string(),
        });
    };
    metadata.validate().map_err(|msg| LoadError::Invalid {
        chart: label.to_string(),
        msg,
    })?;
    chart.metadata = metadata;
    for (cname, files) in subcharts {
        if cname.starts_with('_') || cname.starts_with('.') {
            continue;
        }
        let sub = load_subchart(&chart.metadata.name, &cname, files).map_err(|e| {
            LoadError::Subchart {
                chart: chart.metadata.name.clone(),
                sub: cname.clone(),
                source: Box::new(e),
            }
        })?;
        chart.dependencies.push(sub);
    }
    Ok(chart)
}

/// One entry of charts/: a packaged `.tgz` or a directory.
fn load_subchart(
    parent: &str,
    cname: &str,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Chart, LoadError> {
    let label = format!("{parent}/charts/{cname}");
    if cname.ends_with(".tgz") {
        let Some((name, data)) = files.into_iter().next() else {
            return Err(LoadError::NoChartYaml { chart: label });
        };
        if name != cname {
            return Err(LoadError::File {
                chart: parent.to_string(),
                file: format!("charts/{cname}"),
                msg: format!("error unpacking tar in {parent}: expected {cname}, got {name}"),
            });
        }
        let inner = archive_files(&data).map_err(|source| LoadError::Archive {
            chart: parent.to_string(),
            file: format!("charts/{cname}"),
            source,
        })?;
        return load_buffered(&label, inner);
    }
    let inner = files
        .into_iter()
        .filter_map(|(name, data)| {
            name.split_once('/')
                .map(|(_, rest)| (rest.to_string(), data))
        })
        .collect();
    load_buffered(&label, inner)
}

/// The first YAML document of a file as yaml.v2 decodes it (sigs.k8s.io/yaml
/// reads only that), before the JSON conversion.
pub fn first_doc(data: &[u8]) -> Result<Go, String> {
    super::yaml::decode_go(&String::from_utf8_lossy(data))
}

impl Chart {
    /// The chart's name (its alias once dependencies are processed).
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;
