//! (placeholder: being written)

use crate::gotmpl::FuncMap;

pub(super) fn register(_m: &mut FuncMap) {}

/// `toYaml` of a value (placeholder).
pub fn to_yaml(_v: &crate::gotmpl::Value) -> String {
    String::new()
}

/// `toJson` of a value (placeholder).
pub fn to_json(_v: &crate::gotmpl::Value) -> String {
    String::new()
}
