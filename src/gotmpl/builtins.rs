//! Go's template builtins (placeholder: being written).

use super::FuncMap;

/// The builtins that evaluate all their arguments.
pub fn builtins() -> FuncMap {
    FuncMap::new()
}
