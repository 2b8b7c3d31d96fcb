//! The request as the mock acts on it: route and provider family, auth, and the `x-mock-*`
//! controls, read once from the parsed head and copied out of the read buffer.

use super::faults::FaultPlan;
use super::routes::{route, Route};
use super::Core;
use crate::wire::api_error::{default_message, Family};
use crate::wire::head::{parse_decimal, trim};
use crate::wire::ratelimit::key_id;
use crate::wire::request::RequestHead;

/// A parsed request head: only what the mock acts on, copied out of the read buffer.
#[derive(Debug)]
pub(crate) struct Head {
    pub route: Route,
    pub family: Family,
    pub model_id: String,
    pub method_ok: bool,
    pub keep_alive: bool,
    pub authorized: bool,
    pub anthropic_version: bool,
    pub ttft_ms: Option<f64>,
    pub itl_ms: Option<f64>,
    pub output_tokens: Option<u64>,
    /// `x-mock-reasoning-tokens`.
    pub reasoning_tokens: Option<u64>,
    /// `x-mock-tool-calls`.
    pub tool_calls: Option<u64>,
    pub fault: Result<FaultPlan, String>,
    /// The short id of the request's API key (Bearer or x-api-key), kept only when the rate
    /// limiter counts keys (`wire::ratelimit::key_id`).
    pub key_id: Option<[u8; 8]>,
    /// A header the mock could not accept (bad x-mock-* value), answered with 400.
    pub bad_header: Option<String>,
}

/// Extracts what the mock needs from a parsed head.
pub(crate) fn parse_head(req: &RequestHead<'_, '_>, core: &Core) -> Head {
    let mut anthropic_version = false;
    let mut authorized = core.settings.api_key.is_none();
    let mut head = Head {
        route: Route::NotFound,
        family: Family::OpenAi,
        model_id: String::new(),
        method_ok: false,
        keep_alive: req.keep_alive,
        authorized: false,
        anthropic_version: false,
        ttft_ms: None,
        itl_ms: None,
        output_tokens: None,
        reasoning_tokens: None,
        tool_calls: None,
        fault: Ok(FaultPlan::default()),
        key_id: None,
        bad_header: None,
    };
    let keyed = core.limiter.as_ref().is_some_and(|l| l.wants_keys());
    for h in req.headers {
        let name = h.name;
        let value = trim(h.value);
        if name.eq_ignore_ascii_case("anthropic-version") {
            anthropic_version = true;
        } else if let Some(key) = core.settings.api_key.as_deref() {
            if (name.eq_ignore_ascii_case("authorization")
                && value.len() > 7
                && value[..7].eq_ignore_ascii_case(b"bearer ")
                && trim(&value[7..]) == key.as_bytes())
                || (name.eq_ignore_ascii_case("x-api-key") && value == key.as_bytes())
            {
                authorized = true;
            }
        }
        if keyed && head.key_id.is_none() {
            head.key_id = request_key(name, value).map(key_id);
        }
        if name.len() > 7 && name[..7].eq_ignore_ascii_case("x-mock-") {
            parse_mock_header(&name[7..], value, &mut head);
        }
    }
    let routed = route(req.path, anthropic_version);
    head.route = routed.route;
    head.family = routed.family;
    head.model_id = routed.model_id.to_owned();
    let method = req.method;
    head.method_ok =
        if routed.route.is_get() { method == "GET" || method == "HEAD" } else { method == "POST" };
    head.authorized = authorized || matches!(routed.route, Route::Health | Route::Metrics);
    head.anthropic_version = anthropic_version;
    head
}

/// The key of an `authorization: Bearer K` or `x-api-key: K` header.
fn request_key<'v>(name: &str, value: &'v [u8]) -> Option<&'v [u8]> {
    if name.eq_ignore_ascii_case("authorization")
        && value.len() > 7
        && value[..7].eq_ignore_ascii_case(b"bearer ")
    {
        Some(trim(&value[7..]))
    } else if name.eq_ignore_ascii_case("x-api-key") {
        Some(value)
    } else {
        None
    }
}

impl Head {
    /// The key's short id as text.
    pub(crate) fn key_id(&self) -> Option<&str> {
        self.key_id.as_ref().and_then(|id| std::str::from_utf8(id).ok())
    }
}

/// `x-mock-ttft-ms`, `x-mock-itl-ms`, `x-mock-output-tokens`, `x-mock-reasoning-tokens`,
/// `x-mock-tool-calls`, `x-mock-fault`.
fn parse_mock_header(name: &str, value: &[u8], head: &mut Head) {
    let text = std::str::from_utf8(value).unwrap_or("\u{fffd}");
    let ms = || text.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0 && *v <= 3.6e6);
    let bad = |head: &mut Head, what: &str| {
        head.bad_header = Some(format!("x-mock-{name}: {text:?} is not {what}"))
    };
    if name.eq_ignore_ascii_case("ttft-ms") {
        match ms() {
            Some(v) => head.ttft_ms = Some(v),
            None => bad(head, "a number of milliseconds"),
        }
    } else if name.eq_ignore_ascii_case("itl-ms") {
        match ms() {
            Some(v) => head.itl_ms = Some(v),
            None => bad(head, "a number of milliseconds"),
        }
    } else if name.eq_ignore_ascii_case("output-tokens") {
        match parse_decimal(value).filter(|&n| n <= 1_000_000) {
            Some(n) => head.output_tokens = Some(n),
            None => bad(head, "a whole number up to 1000000"),
        }
    } else if name.eq_ignore_ascii_case("reasoning-tokens") {
        match parse_decimal(value).filter(|&n| n <= 1_000_000) {
            Some(n) => head.reasoning_tokens = Some(n),
            None => bad(head, "a whole number up to 1000000"),
        }
    } else if name.eq_ignore_ascii_case("tool-calls") {
        match parse_decimal(value).filter(|&n| n <= 128) {
            Some(n) => head.tool_calls = Some(n),
            None => bad(head, "a whole number up to 128"),
        }
    } else if name.eq_ignore_ascii_case("fault") {
        head.fault = FaultPlan::parse(text);
    }
}

/// The message for an error status when nothing more specific is known.
pub(crate) fn status_message(status: u16) -> &'static str {
    default_message(status)
}
