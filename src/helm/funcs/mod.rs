//! Helm's template functions: sprig v3's (as Helm 3.9 registers them, without
//! `env` and `expandenv`) and Helm's own data functions (`toYaml`, `fromJson`,
//! ...). `include`, `tpl`, `required` and `lookup` need the engine and the
//! release; they live in [`super::render`].

mod cast;
mod convert;
mod crypto;
mod data;
mod dicts;
mod lists;
mod math;
mod semver;
mod strings;

pub use cast::{strval, to_f64, to_i64};
pub use data::{to_json, to_yaml};

use crate::gotmpl::FuncMap;

/// Every function of sprig and Helm that needs no engine.
pub fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    strings::register(&mut m);
    crypto::register(&mut m);
    lists::register(&mut m);
    dicts::register(&mut m);
    math::register(&mut m);
    semver::register(&mut m);
    convert::register(&mut m);
    data::register(&mut m);
    m
}
