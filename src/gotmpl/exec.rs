//! Evaluator (placeholder).

use super::{Error, Templates, Value};

pub fn execute(_t: &Templates, _name: &str, _data: Value) -> Result<String, Error> {
    Ok(String::new())
}
