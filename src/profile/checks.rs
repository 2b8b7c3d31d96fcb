//! Checks across the fields of a resolved profile: a warmup that leaves a stage nothing to
//! measure, scenarios that get no virtual user, think time that never applies, and fields
//! that change nothing in this profile. They run once every field is valid.

use super::apportion::largest_remainder;
use super::limits::show;
use super::schema::RawProfile;
use super::stages::Stage;
use super::{CacheMode, Concurrency, Profile, Resolving, Reuse};

/// Every check; errors and warnings are `path: reason`.
pub(super) fn across(
    raw: &RawProfile,
    p: &Profile,
    ctx: &Resolving,
    errs: &mut Vec<String>,
    warns: &mut Vec<String>,
) {
    warmup(p, ctx, errs);
    users(p, ctx.stages_path, errs, warns);
    think_time(raw, p, warns);
    no_effect(raw, p, warns);
    sessions(p, errs, warns);
}

/// Session options that cannot hold together, or change nothing.
fn sessions(p: &Profile, errs: &mut Vec<String>, warns: &mut Vec<String>) {
    if p.sessions.connection == Reuse::PerConversation && p.connections.is_some() {
        errs.push(
            "connection: per-conversation gives each conversation its own connection;              not with connections (a fixed set shared by all)"
                .into(),
        );
    }
    if p.sessions.concurrency == Concurrency::Requests && p.stages.iter().all(Stage::is_open) {
        warns.push(
            "concurrency: requests applies to closed-loop stages; every stage here is open loop".into(),
        );
    }
}

/// A stage no longer than the warmup would measure nothing.
fn warmup(p: &Profile, ctx: &Resolving, errs: &mut Vec<String>) {
    if p.warmup.is_zero() {
        return;
    }
    let swallowed: Vec<String> = p
        .stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.duration <= p.warmup)
        .map(|(i, s)| format!("{}[{i}] ({s})", ctx.stages_path))
        .collect();
    if !swallowed.is_empty() {
        errs.push(format!(
            "{}: {} is not shorter than {}, which would measure nothing (shorten the warmup or \
             lengthen the stage)",
            ctx.warmup_path,
            show(p.warmup),
            swallowed.join(", ")
        ));
    }
}

/// Closed-loop users are split between scenarios by weight (largest remainder of a stage's
/// peak, as the engine does): a scenario may get none. With no stage giving it a user and no
/// open-loop stage it never runs (an error); with only some stages it is a warning.
fn users(p: &Profile, stages_path: &str, errs: &mut Vec<String>, warns: &mut Vec<String>) {
    if p.scenarios.len() < 2 {
        return;
    }
    let weights: Vec<u32> = p.scenarios.iter().map(|s| s.weight).collect();
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let closed: Vec<(usize, &Stage, Vec<u32>)> = p
        .stages
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_open())
        .map(|(i, s)| (i, s, largest_remainder(s.peak_users(), &weights)))
        .collect();
    let any_open = p.stages.iter().any(Stage::is_open);
    let most = p.stages.iter().map(Stage::peak_users).max().unwrap_or(0);
    for (k, sc) in p.scenarios.iter().enumerate() {
        let empty: Vec<String> = closed
            .iter()
            .filter(|(_, _, parts)| parts[k] == 0)
            .map(|(i, s, _)| format!("{stages_path}[{i}] ({s})"))
            .collect();
        if empty.is_empty() {
            continue;
        }
        let share = format!("its share (weight {} of {total})", sc.weight);
        // With at least total/weight users its quota is ≥ 1, so largest remainder gives it one.
        let enough = total.div_ceil(u64::from(sc.weight));
        if empty.len() == closed.len() && !any_open {
            errs.push(format!(
                "scenarios[{k}]: {:?} gets no virtual user in any stage, so it never runs: users are \
                 split by weight, and {share} of at most {most} users rounds to 0; give a stage at \
                 least {enough} users, raise its weight, or remove it",
                sc.name
            ));
        } else {
            warns.push(format!(
                "scenarios[{k}]: {:?} gets no virtual user in {}: {share} of the users rounds to 0 \
                 there ({enough} or more users give it one)",
                sc.name,
                empty.join(", ")
            ));
        }
    }
}

/// Think time is the pause between the turns of a conversation: with one turn it never applies.
fn think_time(raw: &RawProfile, p: &Profile, warns: &mut Vec<String>) {
    let own = |k: usize| raw.scenarios.as_ref().and_then(|l| l.get(k)).and_then(|s| s.think_time.as_ref());
    let single = |k: usize| p.scenarios[k].turns.1 <= 1;
    for k in 0..p.scenarios.len() {
        if own(k).is_some() && single(k) && !p.scenarios[k].think_time.is_zero() {
            warns.push(format!(
                "scenarios[{k}].think_time: {} never applies: the scenario has 1 turn per \
                 conversation (think time is the pause between turns)",
                show(p.scenarios[k].think_time)
            ));
        }
    }
    let inheriting: Vec<usize> = (0..p.scenarios.len()).filter(|&k| own(k).is_none()).collect();
    if !p.think_time.is_zero() && !inheriting.is_empty() && inheriting.iter().all(|&k| single(k)) {
        warns.push(format!(
            "think_time: {} never applies: every scenario that inherits it has 1 turn per \
             conversation (think time is the pause between turns)",
            show(p.think_time)
        ));
    }
}

/// Fields that are valid but change nothing with the rest of this profile.
fn no_effect(raw: &RawProfile, p: &Profile, warns: &mut Vec<String>) {
    if raw.shared_prefix_tokens.is_some() && p.cache_mode != CacheMode::SharedPrefix {
        warns.push(format!(
            "shared_prefix_tokens: ignored with cache_mode {:?} (it applies to \"shared-prefix\" only)",
            p.cache_mode.as_str()
        ));
    }
    let uuid = raw.correlation.as_ref().and_then(|c| c.uuid_in_prompt);
    if uuid == Some(true) && p.cache_mode != CacheMode::Bust {
        warns.push(format!(
            "correlation.uuid_in_prompt: ignored with cache_mode {:?} (the id goes into the prompt \
             with \"bust\" only)",
            p.cache_mode.as_str()
        ));
    }
}
