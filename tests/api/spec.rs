//! Checks against Twilio's official OpenAPI description (spec/twilio_conversations_v1.json):
//! every operation is routed, and a response has exactly the fields its schema lists, with the
//! right types, SID patterns, enums and date format.

use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{account, shared};

pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/spec/twilio_conversations_v1.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

/// Every operation of the spec: (method, path template, operationId).
pub fn operations() -> Vec<(String, String, String)> {
    let mut ops = Vec::new();
    for (path, item) in spec()["paths"].as_object().unwrap() {
        for method in ["get", "post", "delete"] {
            if let Some(op) = item.get(method) {
                ops.push((
                    method.to_uppercase(),
                    path.clone(),
                    op["operationId"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    ops
}

fn resolve_ref(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &spec()["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The response schema of an operation for a status code.
fn response_schema(operation_id: &str, status: u16) -> &'static Value {
    for item in spec()["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if op.get("operationId").and_then(Value::as_str) == Some(operation_id) {
                let response = &op["responses"][status.to_string()];
                assert!(
                    !response.is_null(),
                    "{operation_id} has no {status} response in the spec"
                );
                return resolve_ref(&response["content"]["application/json"]["schema"]);
            }
        }
    }
    panic!("no operation {operation_id} in the spec");
}

/// Asserts that `body` is exactly what the spec's schema for this operation and status
/// describes: the same field names (none missing, none extra), and values of the right type.
#[track_caller]
pub fn assert_shape(operation_id: &str, status: u16, body: &Value) {
    let mut errors = Vec::new();
    check(
        response_schema(operation_id, status),
        body,
        "$",
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "{operation_id}: {}\n{body:#}",
        errors.join("\n")
    );
}

fn check(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve_ref(schema);
    if value.is_null() {
        let nullable = schema
            .get("nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // Enum refs and untyped schemas carry no `nullable`; the spec's examples show them null.
        if !nullable && schema.get("type").is_some() && schema.get("enum").is_none() {
            errors.push(format!("{at}: null, but the spec does not allow null"));
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        return;
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => {
            let Some(s) = value.as_str() else {
                return errors.push(format!("{at}: {value} is not a string"));
            };
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                check_sid_pattern(pattern, s, at, errors);
            }
            if schema.get("format").and_then(Value::as_str) == Some("date-time")
                && !(s.len() == 20
                    && s.ends_with('Z')
                    && chrono::DateTime::parse_from_rfc3339(s).is_ok())
            {
                errors.push(format!(
                    "{at}: {s} is not an ISO-8601 UTC date without fractions"
                ));
            }
            if schema.get("format").and_then(Value::as_str) == Some("uri") && !s.starts_with("http")
            {
                errors.push(format!("{at}: {s} is not an absolute URL"));
            }
        }
        Some("integer") if !value.is_i64() && !value.is_u64() => {
            errors.push(format!("{at}: {value} is not an integer"))
        }
        Some("boolean") if !value.is_boolean() => {
            errors.push(format!("{at}: {value} is not a boolean"))
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(&schema["items"], item, &format!("{at}[{i}]"), errors);
                }
            }
            None => errors.push(format!("{at}: {value} is not an array")),
        },
        _ => {}
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let Some(obj) = value.as_object() else {
            return errors.push(format!("{at}: {value} is not an object"));
        };
        for key in props.keys() {
            if !obj.contains_key(key) {
                errors.push(format!("{at}.{key}: missing"));
            }
        }
        for (key, v) in obj {
            match props.get(key) {
                Some(s) => check(s, v, &format!("{at}.{key}"), errors),
                None => errors.push(format!("{at}.{key}: not in the spec")),
            }
        }
    }
}

/// `^XX[0-9a-fA-F]{32}$` patterns: checks the prefix and the 32 hex digits.
fn check_sid_pattern(pattern: &str, s: &str, at: &str, errors: &mut Vec<String>) {
    let Some(prefix) = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix("[0-9a-fA-F]{32}$"))
    else {
        return;
    };
    let ok = if prefix.chars().all(|c| c.is_ascii_uppercase()) {
        s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
    } else {
        s.len() == 34 && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
    };
    if !ok {
        errors.push(format!("{at}: {s} does not match {pattern}"));
    }
}

/// A path template with every `{Param}` filled by a well-formed SID that names nothing.
fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let name = &rest[start + 1..end];
        let prefix = match name {
            "ChatServiceSid" => "IS",
            "ConversationSid" => "CH",
            "MessageSid" => "IM",
            "UserSid" => "US",
            _ => match out.rsplit('/').nth(1).unwrap_or("") {
                "Services" => "IS",
                "Conversations" => "CH",
                "Messages" => "IM",
                "Participants" => "MB",
                "Webhooks" => "WH",
                "Receipts" => "DY",
                "Roles" => "RL",
                "Users" => "US",
                "Credentials" => "CR",
                "Bindings" => "BS",
                "Addresses" => "IG",
                other => panic!("no SID prefix for {name} after {other}"),
            },
        };
        out.push_str(prefix);
        out.push_str(&"0".repeat(32));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn the_spec_has_the_103_operations_of_the_seed() {
    assert_eq!(operations().len(), 103);
}

/// Every operation is routed: without credentials each answers 401 (the route matched and asked
/// for auth), never the 404 of an unknown route or the 405 of a wrong method.
#[tokio::test]
async fn every_spec_operation_is_routed_and_authenticated() {
    let anonymous = shared()
        .operator()
        .with_credentials("AC00000000000000000000000000000000", "wrong");
    let mut failures = Vec::new();
    for (method, template, op) in operations() {
        let path = fill(&template);
        let res = match method.as_str() {
            "GET" => anonymous.get(&path).await,
            "POST" => anonymous.post(&path, &[]).await,
            _ => anonymous.delete(&path).await,
        };
        if res.status != 401 || res.body["code"] != 20003 {
            failures.push(format!("{op} {method} {path}: {} {}", res.status, res.body));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
/// No operation is a stub: with credentials none answers 501 or 405.
#[tokio::test]
async fn no_spec_operation_is_a_stub() {
    let client = account().await;
    let mut failures = Vec::new();
    for (method, template, op) in operations() {
        let path = fill(&template);
        let res = match method.as_str() {
            "GET" => client.get(&path).await,
            "POST" => client.post(&path, &[]).await,
            _ => client.delete(&path).await,
        };
        if res.status == 501 || res.status == 405 || res.status >= 500 {
            failures.push(format!("{op} {method} {path}: {} {}", res.status, res.body));
        }
    }
    assert!(
        failures.is_empty(),
        "{} stubs:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
