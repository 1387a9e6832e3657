//! (placeholder: being written)

use crate::gotmpl::FuncMap;

pub(super) fn register(_m: &mut FuncMap) {}
