//! values.schema.json violations in gojsonschema's words.

use super::validate_values;
use crate::helm::parse_values;

/// (schema, values YAML, Helm's report or "" when valid).
const CASES: &[(&str, &str, &str)] = &[
    (
        r#"{"type":"object","required":["replicas"],"properties":{"replicas":{"type":"integer","minimum":1}}}"#,
        "replicas: three",
        "- replicas: Invalid type. Expected: integer, given: string\n",
    ),
    (r#"{"properties":{"r":{"type":"integer"}}}"#, "r: 3", ""),
    (r#"{"properties":{"r":{"type":"integer"}}}"#, "r: 3.0", ""),
    (
        r#"{"properties":{"r":{"type":"integer"}}}"#,
        "r: 3.5",
        "- r: Invalid type. Expected: integer, given: number\n",
    ),
    (r#"{"properties":{"r":{"type":"number"}}}"#, "r: 3", ""),
    (
        r#"{"required":["a","b"]}"#,
        "a: 1",
        "- (root): b is required\n",
    ),
    (
        r#"{"properties":{"p":{"type":["string","boolean"]}}}"#,
        "p: ~",
        "- p: Invalid type. Expected: [string,boolean], given: null\n",
    ),
    (
        r#"{"properties":{"r":{"minimum":1,"maximum":5}}}"#,
        "r: 0",
        "- r: Must be greater than or equal to 1\n",
    ),
    (
        r#"{"properties":{"r":{"exclusiveMaximum":5}}}"#,
        "r: 5",
        "- r: Must be less than 5\n",
    ),
    (
        r#"{"$schema":"http://json-schema.org/draft-04/schema#","properties":{"r":{"minimum":1,"exclusiveMinimum":true}}}"#,
        "r: 1",
        "- r: Must be greater than 1\n",
    ),
    (
        r#"{"properties":{"s":{"enum":["a","b",1]}}}"#,
        "s: c",
        "- s: s must be one of the following: \"a\", \"b\", 1\n",
    ),
    (
        r#"{"properties":{"s":{"const":"a"}}}"#,
        "s: b",
        "- s: s does not match: \"a\"\n",
    ),
    (
        r#"{"properties":{"s":{"minLength":3,"pattern":"^[a-z]+$"}}}"#,
        "s: A",
        "- s: String length must be greater than or equal to 3\n- s: Does not match pattern '^[a-z]+$'\n",
    ),
    (
        r#"{"additionalProperties":false,"properties":{"a":{}},"patternProperties":{"^x-":{"type":"string"}}}"#,
        "a: 1\nx-y: 2\nz: 3",
        "- x-y: Invalid type. Expected: string, given: integer\n- (root): Additional property z is not allowed\n",
    ),
    (
        r#"{"properties":{"l":{"type":"array","items":{"type":"string"},"minItems":3,"uniqueItems":true}}}"#,
        "l: [a, 1, a]",
        "- l.1: Invalid type. Expected: string, given: integer\n- l: array items[0,2] must be unique\n",
    ),
    (
        r##"{"definitions":{"port":{"type":"integer"}},"properties":{"p":{"$ref":"#/definitions/port"},"q":{"$ref":"#/$defs/q"}},"$defs":{"q":{"type":"boolean"}}}"##,
        "p: x\nq: 1",
        "- p: Invalid type. Expected: integer, given: string\n- q: Invalid type. Expected: boolean, given: integer\n",
    ),
    (
        r#"{"properties":{"o":{"oneOf":[{"type":"string"},{"type":"integer"}]}}}"#,
        "o: true",
        "- o: Must validate one and only one schema (oneOf)\n- o: Invalid type. Expected: string, given: boolean\n",
    ),
    (
        r#"{"properties":{"o":{"anyOf":[{"type":"string"},{"minimum":3}]}}}"#,
        "o: 1",
        "- o: Must validate at least one schema (anyOf)\n- o: Must be greater than or equal to 3\n",
    ),
    (
        r#"{"properties":{"o":{"not":{"type":"string"}}}}"#,
        "o: x",
        "- o: Must not validate the schema (not)\n",
    ),
    (
        r#"{"properties":{"o":{"allOf":[{"type":"string"},{"maxLength":1}]}}}"#,
        "o: xy",
        "- o: String length must be less than or equal to 1\n- o: Must validate all the schemas (allOf)\n",
    ),
    (r#"{"properties":{"e":{"format":"email"}}}"#, "e: x", ""),
];

#[test]
fn violations_as_gojsonschema_words_them() {
    for (schema, values, want) in CASES {
        let v = parse_values(values).expect("values");
        let got = validate_values(schema.as_bytes(), &v)
            .err()
            .unwrap_or_default();
        assert_eq!(&got, want, "schema {schema} values {values:?}");
    }
}
