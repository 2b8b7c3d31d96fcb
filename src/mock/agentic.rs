//! What a 2026 model adds to a planned generation: reasoning tokens before the answer (from
//! `x-mock-reasoning-tokens`, else the model's `reasoning_tokens`) within the request's cap,
//! and tool calls in place of the answer when the request offers tools (`x-mock-tool-calls`,
//! else one call, in `tool_call_rate` of the requests whose last message is the user's; never
//! after a tool result, so an agent loop ends).

use rand::Rng;
use serde_json::Value;

use super::config::Model;
use super::head::Head;
use super::kit::{Call, Generation};
use super::request::LastTurn;
use super::tools;
use super::Core;

/// Reasoning tokens this request asks for: the header, else a draw of the model's setting.
pub(crate) fn reasoning_wanted(core: &Core, head: &Head, model: &Model) -> u64 {
    if let Some(n) = head.reasoning_tokens {
        return n;
    }
    match &model.reasoning_tokens {
        Some(d) => d.sample(&mut *core.rng.borrow_mut(), 0).round().max(0.0) as u64,
        None => 0,
    }
}

/// Puts `wanted` reasoning tokens before the answer, all within `cap`: reasoning takes what
/// it wants (up to the cap) and the answer the rest; an answer cut to fit is `hit_cap`, so a
/// reasoning run that eats the whole budget answers nothing with finish reason `length`.
pub(crate) fn add_reasoning(gen: &mut Generation, wanted: u64, cap: u64) {
    if wanted == 0 {
        return;
    }
    let cap = cap.max(1);
    gen.reasoning = wanted.min(cap);
    let room = cap - gen.reasoning;
    if gen.tokens >= room {
        gen.tokens = room;
        gen.hit_cap = true;
    }
}

/// Tool calls for a request offering `tools`: none after a tool result; else the header's
/// count (1 without it after a user turn, 0 after anything else), in the `tool_call_rate`
/// share of requests (drawn only below 1). Calls replace the answer (no content tokens, not
/// capped); none are made when reasoning used the whole budget.
pub(crate) fn add_calls(gen: &mut Generation, ctx: &Call<'_>, tools: &[Value], last: LastTurn, prefix: &str) {
    if tools.is_empty() || (gen.hit_cap && gen.tokens == 0) {
        return;
    }
    let n = match last {
        LastTurn::ToolResult => 0,
        _ => ctx.head.tool_calls.unwrap_or(u64::from(last == LastTurn::User)),
    };
    let rate = ctx.core.settings.tool_call_rate;
    if n == 0 || (rate < 1.0 && ctx.core.rng.borrow_mut().gen::<f64>() >= rate) {
        return;
    }
    let calls = tools::plan(tools, n.min(128), prefix, &ctx.request_id[4..]);
    if !calls.is_empty() {
        gen.calls = calls;
        gen.tokens = 0;
        gen.hit_cap = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::dist::Dist;
    use crate::mock::kit::Step;
    use crate::mock::text::Words;
    use std::time::Duration;

    fn gen(tokens: u64, hit_cap: bool, per: u32) -> Generation {
        Generation {
            tokens,
            reasoning: 0,
            calls: Vec::new(),
            cached_tokens: 0,
            cache_written_tokens: 0,
            hit_cap,
            prompt_tokens: 10,
            ttft: Duration::ZERO,
            itl: Dist::Fixed(0.0),
            tokens_per_event: per,
            words: Words::Filler(0),
            json: None,
        }
    }

    #[test]
    fn reasoning_shares_the_cap_with_the_answer() {
        let mut g = gen(5, false, 1);
        add_reasoning(&mut g, 3, 100);
        assert_eq!((g.reasoning, g.tokens, g.hit_cap, g.completion_tokens()), (3, 5, false, 8));
        let mut g = gen(5, false, 1);
        add_reasoning(&mut g, 8, 10);
        assert_eq!((g.reasoning, g.tokens, g.hit_cap), (8, 2, true));
        // Reasoning eats the budget: no answer, finish `length`.
        let mut g = gen(10, true, 1);
        add_reasoning(&mut g, 50, 10);
        assert_eq!((g.reasoning, g.tokens, g.hit_cap, g.completion_tokens()), (10, 0, true, 10));
        let mut g = gen(5, false, 1);
        add_reasoning(&mut g, 0, 10);
        assert_eq!((g.reasoning, g.tokens, g.hit_cap), (0, 5, false));
    }

    #[test]
    fn steps_run_reasoning_then_content_then_fragments() {
        let mut g = gen(3, false, 2);
        add_reasoning(&mut g, 3, 100);
        assert_eq!(g.events(), 4);
        let steps: Vec<_> = (0..g.events()).map(|e| g.step(e)).collect();
        assert_eq!(
            steps,
            [Step::Reasoning(0, 2), Step::Reasoning(2, 3), Step::Content(0, 2), Step::Content(2, 3)]
        );
        let mut g = gen(1, false, 1);
        g.calls = tools::plan(
            &[serde_json::json!({"name": "t", "input_schema": {"type": "object", "required": ["a"]}})],
            2,
            "toolu_",
            "ff",
        );
        g.tokens = 0;
        let frags = g.calls[0].fragments();
        assert_eq!(g.events(), 2 * frags as u64);
        assert_eq!(g.step(0), Step::Call { call: 0, frag: 0 });
        assert_eq!(g.step(frags as u64), Step::Call { call: 1, frag: 0 });
        assert_eq!(g.completion_tokens(), 2 * frags as u64);
    }
}
