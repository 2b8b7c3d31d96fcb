//! Provider error bodies: what OpenAI and Anthropic send with an HTTP error status, so the
//! official SDKs raise the same exception they would against the real provider.

use serde::Serialize;

/// Which provider's conventions a route follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `{"error":{"message","type","param","code"}}`, `x-request-id`.
    OpenAi,
    /// `{"type":"error","error":{"type","message"},"request_id"}`, `request-id`.
    Anthropic,
}

impl Family {
    /// The response header that carries the request id.
    pub(crate) fn request_id_header(self) -> &'static str {
        match self {
            Family::OpenAi => "x-request-id",
            Family::Anthropic => "request-id",
        }
    }
}

/// OpenAI's `type` and `code` for a status.
pub(crate) fn openai_kind(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => ("invalid_request_error", Some("unsupported_country_region_territory")),
        404 => ("invalid_request_error", Some("model_not_found")),
        405 => ("invalid_request_error", Some("method_not_allowed")),
        408 => ("timeout", None),
        413 => ("invalid_request_error", Some("request_too_large")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        503 => ("service_unavailable_error", Some("server_is_overloaded")),
        529 => ("server_error", Some("overloaded")),
        s if s >= 500 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

/// Anthropic's `error.type` for a status.
pub(crate) fn anthropic_kind(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// A default message per status, close to the providers' wording.
pub(crate) fn default_message(status: u16) -> &'static str {
    match status {
        400 => "Invalid request.",
        401 => "Incorrect API key provided.",
        403 => "You do not have access to this resource.",
        404 => "The requested resource does not exist.",
        405 => "Method not allowed.",
        408 => "Request timed out.",
        413 => "Request exceeds the maximum allowed number of bytes.",
        429 => "Rate limit reached for requests. Please try again in 1s.",
        500 => "The server had an error while processing your request. Sorry about that!",
        503 => "The engine is currently overloaded, please try again later.",
        529 => "Overloaded",
        _ => "Error.",
    }
}

#[derive(Serialize)]
struct OpenAiError<'a> {
    error: OpenAiErrorInner<'a>,
}

#[derive(Serialize)]
struct OpenAiErrorInner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorInner<'a>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct AnthropicErrorInner<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// Writes the error body for `status` in `family`'s shape. `code` overrides OpenAI's code.
pub(crate) fn write_error_body(
    out: &mut Vec<u8>,
    family: Family,
    status: u16,
    message: &str,
    code: Option<&str>,
    request_id: &str,
) {
    let result = match family {
        Family::OpenAi => {
            let (kind, default_code) = openai_kind(status);
            serde_json::to_writer(
                &mut *out,
                &OpenAiError {
                    error: OpenAiErrorInner { message, kind, param: None, code: code.or(default_code) },
                },
            )
        }
        Family::Anthropic => serde_json::to_writer(
            &mut *out,
            &AnthropicError {
                kind: "error",
                error: AnthropicErrorInner { kind: anthropic_kind(status), message },
                request_id,
            },
        ),
    };
    result.expect("writing JSON to a Vec cannot fail");
}

/// Writes the in-stream error event body (the `data:` payload of an SSE error frame).
pub(crate) fn write_stream_error(out: &mut Vec<u8>, family: Family, status: u16, message: &str) {
    let result = match family {
        Family::OpenAi => {
            let (kind, code) = openai_kind(status);
            serde_json::to_writer(
                &mut *out,
                &OpenAiError { error: OpenAiErrorInner { message, kind, param: None, code } },
            )
        }
        Family::Anthropic => {
            #[derive(Serialize)]
            struct Ev<'a> {
                #[serde(rename = "type")]
                kind: &'static str,
                error: AnthropicErrorInner<'a>,
            }
            serde_json::to_writer(
                &mut *out,
                &Ev { kind: "error", error: AnthropicErrorInner { kind: anthropic_kind(status), message } },
            )
        }
    };
    result.expect("writing JSON to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_providers() {
        let mut out = Vec::new();
        write_error_body(&mut out, Family::OpenAi, 429, "slow down", None, "req_1");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        assert!(v["error"]["param"].is_null());
        out.clear();
        write_error_body(&mut out, Family::Anthropic, 529, "Overloaded", None, "req_2");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "overloaded_error");
        assert_eq!(v["request_id"], "req_2");
    }

    #[test]
    fn messages_are_escaped() {
        let mut out = Vec::new();
        write_error_body(&mut out, Family::OpenAi, 400, "bad \"quote\"\n", Some("x"), "r");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["message"], "bad \"quote\"\n");
        assert_eq!(v["error"]["code"], "x");
    }
}
