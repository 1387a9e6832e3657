//! Helm charts rendered as Helm 3.9 renders them (`helm template`): charts
//! loaded with their dependencies, values coalesced, every template executed
//! by [`crate::gotmpl`] with sprig's and Helm's functions. Imports nothing of
//! sealer but `gotmpl`.

pub mod funcs;
