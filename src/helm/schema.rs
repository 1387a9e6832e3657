//! `values.schema.json` checked as Helm 3.9.4 checks it
//! (`chartutil.ValidateAgainstSchema` with xeipuuv/gojsonschema v1.2):
//! the coalesced values of the chart and of every enabled subchart against
//! that chart's schema, every violation listed in gojsonschema's words.
//!
//! ```text
//! values don't meet the specifications of the schema(s) in the following chart(s):
//! CHART:
//! - FIELD: DESCRIPTION            FIELD = a.b.0 below the root, `(root)` at it
//! SUBCHART:
//! - ...
//! ```
//!
//! The schema is interpreted as it stands (no compilation step): `$ref`s
//! are local JSON pointers (`#/definitions/x`, `#/$defs/x`, `#`). The
//! draft comes from `$schema` (draft-04/06/07); any other is gojsonschema's
//! hybrid mode, which takes every keyword. `format` is not checked.
//! Properties are visited in sorted order (Go's map order is random, so
//! Helm's order of several errors varies between runs).

use std::collections::HashMap;

use regex::Regex;
use serde_json::Value as Json;

use super::chart::Chart;
use super::funcs::to_json;
use crate::gotmpl::Value;

/// Most nested schemas entered for one value (cyclic `$ref`s end here).
const MAX_DEPTH: usize = 2000;

/// Helm's error for values that fail the schemas, or `None`.
pub fn validate_chart(chart: &Chart, values: &Value) -> Option<String> {
    let errors = chart_errors(chart, values);
    (!errors.is_empty()).then(|| {
        format!(
            "values don't meet the specifications of the schema(s) in the following chart(s):\n{errors}"
        )
    })
}

/// `ValidateAgainstSchema`: this chart's report, then its subcharts'.
fn chart_errors(chart: &Chart, values: &Value) -> String {
    let mut out = String::new();
    if let Some(schema) = &chart.schema {
        if let Err(e) = validate_values(schema, values) {
            out.push_str(&format!("{}:\n{e}", chart.metadata.name));
        }
    }
    for sub in &chart.dependencies {
        let sv = match values {
            Value::Map(m) => m.borrow().get(&sub.metadata.name).cloned(),
            _ => None,
        };
        out.push_str(&chart_errors(sub, &sv.unwrap_or_else(Value::new_map)));
    }
    out
}

/// `ValidateAgainstSingleSchema`: `- FIELD: DESCRIPTION\n` per violation.
pub fn validate_values(schema: &[u8], values: &Value) -> Result<(), String> {
    let doc: Json = serde_json::from_slice(schema).map_err(|e| e.to_string())?;
    let draft = draft_of(&doc);
    let mut v = Validator {
        root: &doc,
        draft,
        regexes: HashMap::new(),
        depth: 0,
    };
    let values = match values {
        Value::Nil => Value::new_map(),
        v => v.clone(),
    };
    let mut res = Outcome::default();
    v.check(&doc, &values, &["(root)".to_string()], &mut res)?;
    if res.errors.is_empty() {
        return Ok(());
    }
    Err(res.errors.iter().map(|e| format!("- {e}\n")).collect())
}

/// gojsonschema's draft numbers; hybrid is above them all.
const HYBRID: u32 = u32::MAX;

fn draft_of(doc: &Json) -> u32 {
    let url = doc.get("$schema").and_then(Json::as_str).unwrap_or("");
    match url.trim_end_matches('#') {
        "http://json-schema.org/draft-04/schema" => 4,
        "http://json-schema.org/draft-06/schema" => 6,
        "http://json-schema.org/draft-07/schema" => 7,
        _ => HYBRID,
    }
}

/// A validation's errors and gojsonschema's score (how well it matched,
/// which picks the errors reported for a failed anyOf/oneOf).
#[derive(Default)]
struct Outcome {
    errors: Vec<String>,
    score: i64,
}

impl Outcome {
    fn valid(&self) -> bool {
        self.errors.is_empty()
    }
    fn merge(&mut self, other: Outcome) {
        self.errors.extend(other.errors);
        self.score += other.score;
    }
    /// `addInternalError`: `FIELD: DESCRIPTION`, score -2.
    fn fail(&mut self, ctx: &[String], description: String) {
        self.errors.push(format!("{}: {description}", field(ctx)));
        self.score -= 2;
    }
}

/// The error's field: the context path without its `(root).`.
fn field(ctx: &[String]) -> String {
    let joined = ctx.join(".");
    joined
        .strip_prefix("(root).")
        .map_or(joined.clone(), str::to_string)
}

fn child(ctx: &[String], key: &str) -> Vec<String> {
    let mut c = ctx.to_vec();
    c.push(key.to_string());
    c
}

/// The JSON type of a value, with integer-valued numbers as `integer`.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Nil => "null",
        Value::Bool(_) => "boolean",
        Value::Int(_) => "integer",
        Value::Float(f) if f.fract() == 0.0 => "integer",
        Value::Float(_) => "number",
        Value::List(_) => "array",
        Value::Map(_) | Value::Object(_) => "object",
        Value::Str(_) | Value::Bytes(_) => "string",
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// JSON of a value as `marshalWithoutNumber` compares it.
fn canonical(v: &Value) -> String {
    to_json(v)
}

/// A schema value (enum/const entry) as a template value.
fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(a) => Value::from(a.iter().map(from_json).collect::<Vec<_>>()),
        Json::Object(o) => {
            let m: crate::gotmpl::Map = o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect();
            Value::from(m)
        }
    }
}

/// A number as big.Float's `%v` prints it (10 significant digits).
fn big_float(f: f64) -> String {
    let s = format!("{:.9e}", f);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..10).contains(&exp) {
        let mant = mant.trim_end_matches('0').trim_end_matches('.');
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let rounded: f64 = s.parse().unwrap_or(f);
    format!("{rounded}")
}

fn types_of(schema: &serde_json::Map<String, Json>) -> Vec<String> {
    match schema.get("type") {
        Some(Json::String(t)) => vec![t.clone()],
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn type_list(types: &[String]) -> String {
    if types.len() > 1 {
        format!("[{}]", types.join(","))
    } else {
        types.join("")
    }
}

struct Validator<'a> {
    root: &'a Json,
    draft: u32,
    regexes: HashMap<String, Regex>,
    depth: usize,
}

impl<'a> Validator<'a> {
    fn regex(&mut self, pattern: &str) -> Result<Regex, String> {
        if let Some(r) = self.regexes.get(pattern) {
            return Ok(r.clone());
        }
        let r = Regex::new(pattern).map_err(|_| format!("Invalid regex pattern '{pattern}'"))?;
        self.regexes.insert(pattern.to_string(), r.clone());
        Ok(r)
    }

    /// A local `$ref` (`#`, `#/definitions/x`): a JSON pointer into the root.
    fn resolve(&self, reference: &str) -> Result<&'a Json, String> {
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("unsupported $ref {reference:?}: only local references"))?;
        let pointer = pointer.replace("~1", "/").replace("~0", "~");
        self.root
            .pointer(&pointer)
            .ok_or_else(|| format!("Object has no key '{}'", pointer.trim_start_matches('/')))
    }

    /// `subValidateWithContext`.
    fn sub(&mut self, schema: &'a Json, v: &Value, ctx: &[String]) -> Result<Outcome, String> {
        let mut res = Outcome::default();
        self.check(schema, v, ctx, &mut res)?;
        Ok(res)
    }

    /// `validateRecursive`.
    fn check(
        &mut self,
        schema: &'a Json,
        v: &Value,
        ctx: &[String],
        res: &mut Outcome,
    ) -> Result<(), String> {
        if self.depth >= MAX_DEPTH {
            return Err("schema references nest too deeply".into());
        }
        self.depth += 1;
        let r = self.check_inner(schema, v, ctx, res);
        self.depth -= 1;
        r
    }

    fn check_inner(
        &mut self,
        schema: &'a Json,
        v: &Value,
        ctx: &[String],
        res: &mut Outcome,
    ) -> Result<(), String> {
        let s = match schema {
            Json::Bool(true) => return Ok(()),
            Json::Bool(false) => {
                res.fail(ctx, "False always fails validation".into());
                return Ok(());
            }
            Json::Object(s) => s,
            _ => return Err("schema is invalid".into()),
        };
        if let Some(r) = s.get("$ref") {
            let r = r
                .as_str()
                .ok_or("Invalid type. Expected: string, given: $ref")?;
            let target = self.resolve(r)?;
            return self.check(target, v, ctx, res);
        }
        let types = types_of(s);
        let given = json_type(v);
        let ok = types.is_empty()
            || types.iter().any(|t| t == given)
            || (given == "integer" && types.iter().any(|t| t == "number"));
        if !ok {
            res.fail(
                ctx,
                format!(
                    "Invalid type. Expected: {}, given: {given}",
                    type_list(&types)
                ),
            );
            return Ok(());
        }
        self.combinators(s, v, ctx, res)?;
        match v {
            Value::List(items) => self.array(s, items, ctx, res)?,
            Value::Map(m) => {
                let m = m.borrow().clone();
                self.object(s, &m, ctx, res)?;
            }
            Value::Int(_) | Value::Float(_) => self.number(s, v, ctx, res),
            _ => {}
        }
        self.common(s, v, ctx, res);
        if let Value::Str(text) = v {
            self.string(s, text, ctx, res)?;
        }
        if let (Value::Map(m), Some(Json::Object(props))) = (v, s.get("properties")) {
            let m = m.borrow().clone();
            for (k, ps) in props {
                if let Some(x) = m.get(k) {
                    self.check(ps, x, &child(ctx, k), res)?;
                }
            }
        }
        res.score += 1;
        Ok(())
    }

    /// anyOf's and contains' search: `None` as soon as one of `tries`
    /// validates, else the errors of the best-scored try (the first of equals).
    fn none_valid(
        &mut self,
        tries: Vec<(&'a Json, Value, Vec<String>)>,
    ) -> Result<Option<Outcome>, String> {
        let mut best: Option<Outcome> = None;
        for (sch, v, ctx) in tries {
            let r = self.sub(sch, &v, &ctx)?;
            if r.valid() {
                return Ok(None);
            }
            if best.as_ref().is_none_or(|b| r.score > b.score) {
                best = Some(r);
            }
        }
        Ok(Some(best.unwrap_or_default()))
    }

    /// `validateSchema`: anyOf, oneOf, allOf, not, dependencies, if.
    fn combinators(
        &mut self,
        s: &'a serde_json::Map<String, Json>,
        v: &Value,
        ctx: &[String],
        res: &mut Outcome,
    ) -> Result<(), String> {
        if let Some(Json::Array(any)) = s.get("anyOf") {
            let tries = any.iter().map(|sch| (sch, v.clone(), ctx.to_vec()));
            if let Some(best) = self.none_valid(tries.collect())? {
                res.fail(ctx, "Must validate at least one schema (anyOf)".into());
                res.merge(best);
            }
        }
        if let Some(Json::Array(one)) = s.get("oneOf") {
            let mut n = 0;
            let mut best: Option<Outcome> = None;
            for sch in one {
                let r = self.sub(sch, v, ctx)?;
                if r.valid() {
                    n += 1;
                } else if n == 0 && best.as_ref().is_none_or(|b| r.score > b.score) {
                    best = Some(r);
                }
            }
            if n != 1 {
                res.fail(ctx, "Must validate one and only one schema (oneOf)".into());
                if n == 0 {
                    if let Some(b) = best {
                        res.merge(b);
                    }
                }
            }
        }
        if let Some(Json::Array(all)) = s.get("allOf") {
            let mut n = 0;
            for sch in all {
                let r = self.sub(sch, v, ctx)?;
                n += usize::from(r.valid());
                res.merge(r);
            }
            if n != all.len() {
                res.fail(ctx, "Must validate all the schemas (allOf)".into());
            }
        }
        if let Some(not) = s.get("not") {
            if self.sub(not, v, ctx)?.valid() {
                res.fail(ctx, "Must not validate the schema (not)".into());
            }
        }
        if let (Some(Json::Object(deps)), Value::Map(m)) = (s.get("dependencies"), v) {
            let keys: Vec<String> = m.borrow().keys().cloned().collect();
            for k in &keys {
                match deps.get(k) {
                    Some(Json::Array(need)) => {
                        for d in need.iter().filter_map(Json::as_str) {
                            if !keys.iter().any(|x| x == d) {
                                res.fail(ctx, format!("Has a dependency on {d}"));
                            }
                        }
                    }
                    Some(sch @ (Json::Object(_) | Json::Bool(_))) => {
                        self.check(sch, v, ctx, res)?
                    }
                    _ => {}
                }
            }
        }
        if self.draft >= 7 {
            self.condition(s, v, ctx, res)?;
        }
        res.score += 1;
        Ok(())
    }

    /// if / then / else.
    fn condition(
        &mut self,
        s: &'a serde_json::Map<String, Json>,
        v: &Value,
        ctx: &[String],
        res: &mut Outcome,
    ) -> Result<(), String> {
        let Some(cond) = s.get("if") else {
            return Ok(());
        };
        let holds = self.sub(cond, v, ctx)?.valid();
        let (branch, text) = if holds {
            (s.get("then"), r#"Must validate "then" as "if" was valid"#)
        } else {
            (
                s.get("else"),
                r#"Must validate "else" as "if" was not valid"#,
            )
        };
        if let Some(b) = branch {
            let r = self.sub(b, v, ctx)?;
            if !r.valid() {
                res.fail(ctx, text.into());
                res.merge(r);
            }
        }
        Ok(())
    }

    /// `validateCommon`: const and enum.
    fn common(
        &mut self,
        s: &serde_json::Map<String, Json>,
        v: &Value,
        ctx: &[String],
        res: &mut Outcome,
    ) {
        let got = canonical(v);
        if let Some(c) = s.get("const").filter(|_| self.draft >= 6) {
            let want = canonical(&from_json(c));
            if got != want {
                res.fail(ctx, format!("{} does not match: {want}", field(ctx)));
            }
        }
        if let Some(Json::Array(allowed)) = s.get("enum") {
            let allowed: Vec<String> = allowed.iter().map(|a| canonical(&from_json(a))).collect();
            if !allowed.contains(&got) {
                res.fail(
                    ctx,
                    format!(
                        "{} must be one of the following: {}",
                        field(ctx),
                        allowed.join(", ")
                    ),
                );
            }
        }
        res.score += 1;
    }

    /// `validateArray`.
    fn array(
        &mut self,
        s: &'a serde_json::Map<String, Json>,
        items: &[Value],
        ctx: &[String],
        res: &mut Outcome,
    ) -> Result<(), String> {
        match s.get("items") {
            Some(Json::Array(tuple)) => {
                for (i, (sch, x)) in tuple.iter().zip(items).enumerate() {
                    let r = self.sub(sch, x, &child(ctx, &i.to_string()))?;
                    res.merge(r);
                }
                if tuple.len() < items.len() && !tuple.is_empty() {
                    match s.get("additionalItems") {
                        Some(Json::Bool(false)) => {
                            res.fail(ctx, "No additional items allowed on array".into())
                        }
                        Some(sch @ Json::Object(_)) => {
                            for (i, x) in items.iter().enumerate().skip(tuple.len()) {
                                let r = self.sub(sch, x, &child(ctx, &i.to_string()))?;
                                res.merge(r);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Some(sch @ (Json::Object(_) | Json::Bool(_))) => {
                for (i, x) in items.iter().enumerate() {
                    let r = self.sub(sch, x, &child(ctx, &i.to_string()))?;
                    res.merge(r);
                }
            }
            _ => {}
        }
        let n = items.len() as f64;
        if let Some(min) = s.get("minItems").and_then(Json::as_f64) {
            if n < min {
                res.fail(ctx, format!("Array must have at least {min} items"));
            }
        }
        if let Some(max) = s.get("maxItems").and_then(Json::as_f64) {
            if n > max {
                res.fail(ctx, format!("Array must have at most {max} items"));
            }
        }
        if s.get("uniqueItems") == Some(&Json::Bool(true)) {
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (j, x) in items.iter().enumerate() {
                let key = canonical(x);
                if let Some(i) = seen.get(&key) {
                    res.fail(ctx, format!("array items[{i},{j}] must be unique"));
                }
                seen.insert(key, j);
            }
        }
        if let Some(contains) = s.get("contains").filter(|_| self.draft >= 6) {
            let tries = items
                .iter()
                .enumerate()
                .map(|(i, x)| (contains, x.clone(), child(ctx, &i.to_string())));
            if let Some(best) = self.none_valid(tries.collect())? {
                res.fail(ctx, "At least one of the items must match".into());
                res.merge(best);
            }
        }
        res.score += 1;
        Ok(())
    }

    /// `validateObject`: property counts, required, additional and
    /// pattern properties, propertyNames (named properties come later).
    fn object(
        &mut self,
        s: &'a serde_json::Map<String, Json>,
        m: &crate::gotmpl::Map,
        ctx: &[String],
        res: &mut Outcome,
    ) -> Result<(), String> {
        let n = m.len() as f64;
        if let Some(min) = s.get("minProperties").and_then(Json::as_f64) {
            if n < min {
                res.fail(ctx, format!("Must have at least {min} properties"));
            }
        }
        if let Some(max) = s.get("maxProperties").and_then(Json::as_f64) {
            if n > max {
                res.fail(ctx, format!("Must have at most {max} properties"));
            }
        }
        if let Some(Json::Array(req)) = s.get("required") {
            for r in req.iter().filter_map(Json::as_str) {
                if m.contains_key(r) {
                    res.score += 1;
                } else {
                    res.fail(ctx, format!("{r} is required"));
                }
            }
        }
        let props = s.get("properties").and_then(Json::as_object);
        let patterns = s.get("patternProperties").and_then(Json::as_object);
        for (k, x) in m {
            let named = props.is_some_and(|p| p.contains_key(k));
            let mut matched = false;
            for (pat, sch) in patterns.into_iter().flatten() {
                if self.regex(pat)?.is_match(k) {
                    matched = true;
                    let r = self.sub(sch, x, &child(ctx, k))?;
                    res.merge(r);
                }
            }
            if matched {
                res.score += 1;
            }
            if named || matched {
                continue;
            }
            match s.get("additionalProperties") {
                Some(Json::Bool(false)) => {
                    res.fail(ctx, format!("Additional property {k} is not allowed"))
                }
                Some(sch @ Json::Object(_)) => {
                    let r = self.sub(sch, x, &child(ctx, k))?;
                    res.merge(r);
                }
                _ => {}
            }
        }
        if let Some(names) = s.get("propertyNames").filter(|_| self.draft >= 6) {
            for k in m.keys() {
                let r = self.sub(names, &Value::from(k.as_str()), ctx)?;
                if !r.valid() {
                    res.fail(ctx, format!("Property name of \"{k}\" does not match"));
                    res.merge(r);
                }
            }
        }
        res.score += 1;
        Ok(())
    }

    /// `validateString`: lengths in runes, pattern (`format` is not checked).
    fn string(
        &mut self,
        s: &serde_json::Map<String, Json>,
        text: &str,
        ctx: &[String],
        res: &mut Outcome,
    ) -> Result<(), String> {
        let n = text.chars().count() as f64;
        if let Some(min) = s.get("minLength").and_then(Json::as_f64) {
            if n < min {
                res.fail(
                    ctx,
                    format!("String length must be greater than or equal to {min}"),
                );
            }
        }
        if let Some(max) = s.get("maxLength").and_then(Json::as_f64) {
            if n > max {
                res.fail(
                    ctx,
                    format!("String length must be less than or equal to {max}"),
                );
            }
        }
        if let Some(p) = s.get("pattern").and_then(Json::as_str) {
            if !self.regex(p)?.is_match(text) {
                res.fail(ctx, format!("Does not match pattern '{p}'"));
            }
        }
        res.score += 1;
        Ok(())
    }

    /// `validateNumber`: multipleOf, bounds (draft-04 boolean exclusives too).
    fn number(
        &self,
        s: &serde_json::Map<String, Json>,
        v: &Value,
        ctx: &[String],
        res: &mut Outcome,
    ) {
        let Some(x) = number(v) else {
            return;
        };
        let num = |k: &str| s.get(k).and_then(Json::as_f64);
        let flag = |k: &str| s.get(k) == Some(&Json::Bool(true));
        if let Some(m) = num("multipleOf").filter(|m| *m > 0.0) {
            let q = x / m;
            if q.fract() != 0.0 {
                res.fail(ctx, format!("Must be a multiple of {}", big_float(m)));
            }
        }
        let (mut max, mut min) = (num("maximum"), num("minimum"));
        let mut xmax = num("exclusiveMaximum").filter(|_| self.draft != 4);
        let mut xmin = num("exclusiveMinimum").filter(|_| self.draft != 4);
        if flag("exclusiveMaximum") && self.draft != 6 && self.draft != 7 {
            xmax = max.take();
        }
        if flag("exclusiveMinimum") && self.draft != 6 && self.draft != 7 {
            xmin = min.take();
        }
        if let Some(m) = max.filter(|m| x > *m) {
            res.fail(
                ctx,
                format!("Must be less than or equal to {}", big_float(m)),
            );
        }
        if let Some(m) = xmax.filter(|m| x >= *m) {
            res.fail(ctx, format!("Must be less than {}", big_float(m)));
        }
        if let Some(m) = min.filter(|m| x < *m) {
            res.fail(
                ctx,
                format!("Must be greater than or equal to {}", big_float(m)),
            );
        }
        if let Some(m) = xmin.filter(|m| x <= *m) {
            res.fail(ctx, format!("Must be greater than {}", big_float(m)));
        }
        res.score += 1;
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
