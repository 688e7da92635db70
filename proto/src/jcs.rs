//! RFC 8785 JSON Canonicalization Scheme (JCS) over [`serde_json::Value`], restricted to the
//! JSON the warden protocol uses: no floating-point numbers.
//!
//! The encoding (RFC 8785 section 3.2):
//!
//! - no whitespace between tokens;
//! - object members sorted by their names compared as arrays of UTF-16 code units
//!   (section 3.2.3), recursively; array order is kept;
//! - strings escaped as ECMAScript's `JSON.stringify` does (section 3.2.2.2): `\"`, `\\`,
//!   `\b`, `\f`, `\n`, `\r`, `\t`, and `\u00xx` with lowercase hex for the other control
//!   characters U+0000 to U+001F; everything else, `/` and non-ASCII included, is written
//!   as is, in UTF-8;
//! - `null`, `true`, `false` as literals;
//! - numbers: integers only, within the I-JSON (RFC 7493) safe range `-(2^53 - 1)` to
//!   `2^53 - 1`, written in plain decimal. That is exactly how ECMAScript writes those values,
//!   so for them this subset agrees with full JCS. Any other number (a fraction, an exponent,
//!   any value held as a float even if integral, or an integer beyond the safe range, which
//!   a double cannot represent unambiguously) is rejected with a [`JcsError`] rather than
//!   rounded.
//!
//! Duplicate member names cannot occur: a [`serde_json::Map`] holds each name once.

use serde_json::{Map, Number, Value};

/// The largest integer magnitude accepted: `2^53 - 1` (ECMAScript `Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a value has no canonical encoding under this JCS subset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JcsError {
    /// The number is not held as an integer (it has a fraction or exponent, or was parsed as a
    /// float).
    #[error("number {0} is not an integer; canonical JSON here allows integers only")]
    NonIntegerNumber(String),
    /// The integer's magnitude exceeds [`MAX_SAFE_INTEGER`].
    #[error("integer {0} is outside the safe range -(2^53 - 1) ..= 2^53 - 1")]
    IntegerOutOfRange(String),
}

/// Encodes `value` canonically.
pub fn to_string(value: &Value) -> Result<String, JcsError> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out)
}

/// Encodes `value` canonically, as UTF-8 bytes (what gets hashed).
pub fn to_vec(value: &Value) -> Result<Vec<u8>, JcsError> {
    to_string(value).map(String::into_bytes)
}

/// Appends `s` as a canonical JSON string literal, quotes included. Infallible: every Rust
/// string has a canonical encoding.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < '\u{20}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(out: &mut String, value: &Value) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(members) => write_object(out, members)?,
    }
    Ok(())
}

fn write_object(out: &mut String, members: &Map<String, Value>) -> Result<(), JcsError> {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    // serde_json's map order (insertion or UTF-8 byte order, depending on features) is not
    // JCS order: sort by UTF-16 code units, which differs from UTF-8 byte order for characters
    // above U+FFFF versus U+E000..=U+FFFF.
    sorted.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, name);
        out.push(':');
        write_value(out, value)?;
    }
    out.push('}');
    Ok(())
}

fn write_number(out: &mut String, n: &Number) -> Result<(), JcsError> {
    if let Some(v) = n.as_u64() {
        if v > MAX_SAFE_INTEGER {
            return Err(JcsError::IntegerOutOfRange(n.to_string()));
        }
        out.push_str(&v.to_string());
        return Ok(());
    }
    if let Some(v) = n.as_i64() {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(JcsError::IntegerOutOfRange(n.to_string()));
        }
        out.push_str(&v.to_string());
        return Ok(());
    }
    // Neither u64 nor i64: a float, or (with serde_json's `arbitrary_precision`) an integer
    // too large for 64 bits.
    let text = n.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Err(JcsError::IntegerOutOfRange(text))
    } else {
        Err(JcsError::NonIntegerNumber(text))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canon(text: &str) -> Result<String, JcsError> {
        to_string(&serde_json::from_str(text).unwrap())
    }

    /// RFC 8785 section 3.2.3, "Sorting of Object Properties": the input of the example.
    #[test]
    fn rfc8785_sorting_example() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        // The RFC lists the resulting order of the property names as:
        // \r, 1, U+0080, U+00F6, U+20AC, U+1F600, U+FB33.
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\
                        \"\u{20ac}\":\"Euro Sign\",\
                        \"\u{1f600}\":\"Emoji: Grinning Face\",\
                        \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(input).unwrap(), expected);
    }

    /// RFC 8785 section 3.2.2, the example input without its "numbers" member (which uses
    /// floats, outside this subset). The expected output is the RFC's, without "numbers".
    #[test]
    fn rfc8785_main_example_without_numbers() {
        let input = r#"{
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        let expected = "{\"literals\":[null,true,false],\
                        \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        assert_eq!(canon(input).unwrap(), expected);
    }

    #[test]
    fn nested_objects_are_sorted_and_arrays_keep_order() {
        let value = json!({"b": [3, 1, {"z": 1, "a": 2}], "a": {"y": null, "x": true}});
        assert_eq!(
            to_string(&value).unwrap(),
            r#"{"a":{"x":true,"y":null},"b":[3,1,{"a":2,"z":1}]}"#
        );
    }

    #[test]
    fn empty_containers_and_scalars() {
        assert_eq!(to_string(&json!({})).unwrap(), "{}");
        assert_eq!(to_string(&json!([])).unwrap(), "[]");
        assert_eq!(to_string(&json!("")).unwrap(), "\"\"");
        assert_eq!(to_string(&json!(null)).unwrap(), "null");
        assert_eq!(to_string(&json!(0)).unwrap(), "0");
        assert_eq!(to_string(&json!(-7)).unwrap(), "-7");
    }

    #[test]
    fn every_control_character_is_escaped_with_lowercase_hex() {
        let s: String = (0u8..0x20).map(char::from).collect();
        let expected = "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\
                        \\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\
                        \\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\
                        \\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"";
        assert_eq!(to_string(&Value::String(s)).unwrap(), expected);
    }

    #[test]
    fn slash_del_and_non_ascii_are_not_escaped() {
        let s = "a/b\u{7f}\u{e9}\u{2028}\u{1f600}";
        assert_eq!(to_string(&json!(s)).unwrap(), format!("\"{s}\""));
    }

    #[test]
    fn keys_are_escaped_like_strings() {
        assert_eq!(to_string(&json!({"a\"\n": 1})).unwrap(), r#"{"a\"\n":1}"#);
    }

    #[test]
    fn utf16_order_differs_from_utf8_order() {
        // U+FFFF is one UTF-16 unit 0xFFFF; U+10000 is the pair 0xD800 0xDC00, so it sorts
        // first in JCS although its UTF-8 encoding sorts last.
        let value = json!({"\u{ffff}": 1, "\u{10000}": 2});
        assert_eq!(
            to_string(&value).unwrap(),
            "{\"\u{10000}\":2,\"\u{ffff}\":1}"
        );
    }

    #[test]
    fn prefix_sorts_first() {
        assert_eq!(
            to_string(&json!({"ab": 1, "a": 2})).unwrap(),
            r#"{"a":2,"ab":1}"#
        );
    }

    #[test]
    fn safe_integer_bounds() {
        let max = MAX_SAFE_INTEGER;
        let min = -(i64::try_from(MAX_SAFE_INTEGER).unwrap());
        assert_eq!(to_string(&json!(max)).unwrap(), "9007199254740991");
        assert_eq!(to_string(&json!(min)).unwrap(), "-9007199254740991");
        assert_eq!(
            to_string(&json!(max + 1)),
            Err(JcsError::IntegerOutOfRange("9007199254740992".to_owned()))
        );
        assert_eq!(
            to_string(&json!(min - 1)),
            Err(JcsError::IntegerOutOfRange("-9007199254740992".to_owned()))
        );
        assert!(matches!(
            to_string(&json!(u64::MAX)),
            Err(JcsError::IntegerOutOfRange(_))
        ));
        assert!(matches!(
            to_string(&json!(i64::MIN)),
            Err(JcsError::IntegerOutOfRange(_))
        ));
    }

    #[test]
    fn floats_are_rejected() {
        assert!(matches!(canon("1.5"), Err(JcsError::NonIntegerNumber(_))));
        assert!(matches!(canon("1.0"), Err(JcsError::NonIntegerNumber(_))));
        assert!(matches!(canon("1e3"), Err(JcsError::NonIntegerNumber(_))));
        assert!(matches!(canon("-0.0"), Err(JcsError::NonIntegerNumber(_))));
        assert!(matches!(
            to_string(&json!(0.5)),
            Err(JcsError::NonIntegerNumber(_))
        ));
        // Nested: the error surfaces from any depth.
        assert!(matches!(
            canon(r#"{"a":[{"b":2.5}]}"#),
            Err(JcsError::NonIntegerNumber(_))
        ));
    }

    #[test]
    fn to_vec_is_utf8_of_to_string() {
        let value = json!({"\u{e9}": "\u{20ac}"});
        assert_eq!(
            to_vec(&value).unwrap(),
            to_string(&value).unwrap().into_bytes()
        );
    }
}
