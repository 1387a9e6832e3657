//! Go's fmt for template values (placeholder: being written).

use super::Value;

/// `%v` of one value, as fmt.Sprint prints it.
pub fn sprint_value(v: &Value) -> String {
    format!("{v:?}")
}
