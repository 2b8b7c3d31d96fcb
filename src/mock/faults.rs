//! Injected faults: what a request should suffer, from the `x-mock-fault` header or a model's
//! fault rules drawn by rate.
//!
//! Syntax (comma-separated `key=value`): `status=429`, `sse-error-after=3`,
//! `drop-after-events=5`, `stall-ms=2000` with optional `stall-after=1`, `first-byte-ms=500`,
//! `json-invalid=1` (an answer asked for as JSON is not valid JSON).

/// One request's faults. All fields are optional and combine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    /// Answer with this HTTP status in the provider's error shape instead of a reply.
    pub status: Option<u16>,
    /// After this many content events, send an in-stream error event and end the stream.
    pub sse_error_after: Option<u32>,
    /// After this many content events, close the TCP connection without the chunked terminator.
    pub drop_after_events: Option<u32>,
    /// Pause this long in the middle of a stream (after `stall_after` content events).
    pub stall_ms: Option<u64>,
    /// Content events before the stall; default 1.
    pub stall_after: u32,
    /// Delay the response head by this long.
    pub first_byte_ms: Option<u64>,
    /// An answer asked for as JSON (`response_format`) gets a trailing comma: not JSON.
    pub json_invalid: bool,
}

impl FaultPlan {
    /// Parses the header / config syntax; the error names the offending item.
    pub(crate) fn parse(text: &str) -> Result<FaultPlan, String> {
        let mut plan = FaultPlan { stall_after: 1, ..FaultPlan::default() };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) =
                item.split_once('=').ok_or_else(|| format!("fault {item:?} is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            let num = |max: u64| -> Result<u64, String> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v <= max)
                    .ok_or_else(|| format!("fault {key}: {value:?} is not a whole number ≤ {max}"))
            };
            match key {
                "status" => {
                    let code = num(599)?;
                    if code < 400 {
                        return Err(format!("fault status: {code} is not an error status (400-599)"));
                    }
                    plan.status = Some(code as u16);
                }
                "sse-error-after" => plan.sse_error_after = Some(num(u32::MAX as u64)? as u32),
                "drop-after-events" => plan.drop_after_events = Some(num(u32::MAX as u64)? as u32),
                "stall-ms" => plan.stall_ms = Some(num(3_600_000)?),
                "stall-after" => plan.stall_after = num(u32::MAX as u64)? as u32,
                "first-byte-ms" => plan.first_byte_ms = Some(num(3_600_000)?),
                "json-invalid" => plan.json_invalid = num(1)? == 1,
                other => {
                    return Err(format!(
                        "unknown fault {other:?} (use status, sse-error-after, drop-after-events, \
                         stall-ms, stall-after, first-byte-ms, json-invalid)"
                    ))
                }
            }
        }
        Ok(plan)
    }

    /// True when nothing is injected.
    pub(crate) fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.sse_error_after.is_none()
            && self.drop_after_events.is_none()
            && self.stall_ms.is_none()
            && self.first_byte_ms.is_none()
            && !self.json_invalid
    }

    /// Adds `other`'s faults to this plan (header faults win over drawn ones).
    pub(crate) fn merge(&mut self, other: &FaultPlan) {
        self.status = other.status.or(self.status);
        self.sse_error_after = other.sse_error_after.or(self.sse_error_after);
        self.drop_after_events = other.drop_after_events.or(self.drop_after_events);
        if other.stall_ms.is_some() {
            self.stall_ms = other.stall_ms;
            self.stall_after = other.stall_after;
        }
        self.first_byte_ms = other.first_byte_ms.or(self.first_byte_ms);
        self.json_invalid |= other.json_invalid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault() {
        let p = FaultPlan::parse(
            "status=429, sse-error-after=3,drop-after-events=5,stall-ms=20,stall-after=2,first-byte-ms=7,\
             json-invalid=1",
        )
        .unwrap();
        assert!(p.json_invalid);
        assert!(!FaultPlan::parse("json-invalid=0").unwrap().json_invalid);
        assert!(FaultPlan::parse("json-invalid=2").unwrap_err().contains("json-invalid"));
        assert_eq!(p.status, Some(429));
        assert_eq!(p.sse_error_after, Some(3));
        assert_eq!(p.drop_after_events, Some(5));
        assert_eq!((p.stall_ms, p.stall_after), (Some(20), 2));
        assert_eq!(p.first_byte_ms, Some(7));
        assert!(FaultPlan::parse("").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_item() {
        assert!(FaultPlan::parse("status=200").unwrap_err().contains("not an error status"));
        assert!(FaultPlan::parse("explode=1").unwrap_err().contains("\"explode\""));
        assert!(FaultPlan::parse("stall-ms").unwrap_err().contains("key=value"));
        assert!(FaultPlan::parse("stall-ms=x").unwrap_err().contains("stall-ms"));
    }
}
