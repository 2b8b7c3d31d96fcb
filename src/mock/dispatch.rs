//! Request → reply: the checks every route shares (route, method, auth, mock headers) happen
//! here once, then the route's API module answers (with the kit below it).

use std::time::Duration;

use super::faults::FaultPlan;
use super::head::{status_message, Head};
use super::kit::{Call, Reply};
use super::routes::Route;
use super::{anthropic, openai, responses, Core};

/// The answer when `max_concurrency` requests are already being served: 429 in the
/// provider's shape, with `retry-after`.
pub(crate) fn over_capacity(core: &Core, head: &Head, request_id: &str, out: &mut Vec<u8>) -> Reply {
    let mut ctx = Call { core, head, request_id, out, faults: FaultPlan::default(), batch: None };
    let mut reply =
        ctx.error(429, "The server is at its concurrency limit; retry later.", Some("rate_limit_exceeded"));
    if let Reply::Full { retry_after, .. } = &mut reply {
        *retry_after = true;
    }
    reply
}

/// Answers one request.
pub(crate) fn handle(core: &Core, head: &Head, body: &[u8], request_id: &str, out: &mut Vec<u8>) -> Reply {
    let mut ctx = Call { core, head, request_id, out, faults: FaultPlan::default(), batch: None };
    if head.route == Route::NotFound {
        return ctx.error(404, "Unknown request URL. Please check the URL and method.", Some("unknown_url"));
    }
    if !head.method_ok {
        let allowed = if head.route.is_get() { "GET, HEAD" } else { "POST" };
        let message = format!("Method not allowed; this route takes {allowed}.");
        let mut reply = ctx.error(405, &message, None);
        if let Reply::Full { allow, .. } = &mut reply {
            *allow = Some(allowed);
        }
        return reply;
    }
    if !head.authorized {
        return ctx.error(401, status_message(401), None);
    }
    if let Some(bad) = &head.bad_header {
        return ctx.error(400, bad, None);
    }
    if let Err(e) = &head.fault {
        return ctx.error(400, &format!("x-mock-fault: {e}"), None);
    }
    match head.route {
        Route::Health => {
            ctx.out.extend_from_slice(b"{\"status\":\"ok\"}");
            ctx.full(200, "application/json", Duration::ZERO)
        }
        Route::Metrics => {
            let mut text = core.metrics.render();
            if let Some(batch) = &core.batch {
                batch.render(&mut text);
            }
            if let Some(limiter) = &core.limiter {
                limiter.render(&mut text);
            }
            ctx.out.extend_from_slice(text.as_bytes());
            ctx.full(200, "text/plain; version=0.0.4; charset=utf-8", Duration::ZERO)
        }
        Route::Models | Route::Model => openai::models(&mut ctx),
        Route::ChatCompletions => openai::chat(&mut ctx, body),
        Route::Completions => openai::completions(&mut ctx, body),
        Route::Embeddings => openai::embeddings(&mut ctx, body),
        Route::Responses => responses::create(&mut ctx, body),
        Route::Messages => anthropic::messages(&mut ctx, body),
        Route::CountTokens => anthropic::count_tokens(&mut ctx, body),
        Route::NotFound => unreachable!("answered above"),
    }
}
