//! The workload of a profile: weighted scenarios of multi-turn conversations over four
//! protocols, with content modes (datasets among them), cache busting and a correlation id
//! per conversation.
//!
//! Everything that does not change per request is rendered once per scenario (request line,
//! headers, model, system prompt as a JSON literal, sized filler); a turn appends the new user
//! message (escaped once and kept in the history) and writes the body by concatenation.
//! With a tokenizer, sized messages and the shared prefix are of an exact length and every
//! turn is counted (`exact`); dataset conversations are not counted.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::content::{uuid_v4, Filler, Uuid, CHARS_PER_TOKEN};
use super::exact::{ExactFiller, Tally};
use super::keys::KeyRing;
use super::replay::ReplaySession;
use super::scenario::{Prompts, Scenario};
use super::{Replay, Session, Workload};
use crate::data::dataset::replay::Replay as DatasetReplay;
use crate::http::cancel::CancelAfter;
use crate::http::target::Target;
use crate::metrics::keys::KeyTag;
use crate::metrics::{Outcome, TokenizerCounts};
use crate::profile::apportion::{by_draw, index_of, largest_remainder, split};
use crate::profile::{CacheMode, Content, Profile, ScenarioSpec, DEFAULT_TOOL_RESULT_TOKENS};
use crate::protocol::answer::ReplyDecoder;
use crate::protocol::{
    json_string, json_string_body, tool_turn, Decoder, Finish, Message, ProtocolKind, Role, TurnBody,
};
use crate::tokens::{exact_text, Tokenizer};

/// A compiled profile.
pub(crate) struct ProfileWorkload {
    scenarios: Vec<Arc<Scenario>>,
    weights: Vec<u32>,
}

/// The distinct endpoints (scheme, host, port) of a profile's scenarios, and each scenario's
/// index into them. Fails on an unparsable URL or on mixed http/https.
pub(crate) fn targets(profile: &Profile) -> Result<(Vec<Target>, Vec<usize>), String> {
    let mut targets: Vec<Target> = Vec::new();
    let mut index = Vec::new();
    for (i, s) in profile.scenarios.iter().enumerate() {
        let t = Target::parse(&s.target).map_err(|e| format!("scenarios[{i}].target: {e}"))?;
        let found = targets.iter().position(|u| u.scheme == t.scheme && u.host == t.host && u.port == t.port);
        index.push(found.unwrap_or_else(|| {
            targets.push(t.clone());
            targets.len() - 1
        }));
    }
    if targets.windows(2).any(|w| w[0].scheme != w[1].scheme) {
        return Err("targets: http and https cannot be mixed in one run".into());
    }
    Ok((targets, index))
}

/// The request line and static headers of a scenario.
fn render_head(spec: &ScenarioSpec, target: &Target, protocol: ProtocolKind, keepalive: bool) -> String {
    let path = if target.base_path.is_empty() { "/".to_string() } else { target.base_path.clone() };
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: {}\r\n", target.host_header());
    let has = |name: &str| spec.header(name).is_some();
    if !has("content-type") {
        head.push_str("content-type: application/json\r\n");
    }
    for (k, v) in protocol.extra_headers() {
        if !has(k) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if protocol.uses_x_api_key() && !has("x-api-key") {
        if let Some(key) = spec.header("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
            head.push_str(&format!("x-api-key: {key}\r\n"));
        }
    }
    for (k, v) in &spec.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !keepalive {
        head.push_str("connection: close\r\n");
    }
    head
}

impl ProfileWorkload {
    /// Compiles a validated profile; `target_index[i]` is scenario i's endpoint.
    pub(crate) fn new(
        profile: &Profile,
        targets: &[Target],
        target_index: &[usize],
        seed: u64,
    ) -> Result<Self, String> {
        let shared_prefix: Option<Arc<str>> = (profile.cache_mode == CacheMode::SharedPrefix).then(|| {
            if profile.tokenizer.is_some() {
                let mut p = String::new();
                exact_text(profile.shared_prefix_tokens, seed ^ 0x5eed, &mut p);
                return Arc::from(p);
            }
            let filler = Filler::new(profile.shared_prefix_tokens.max(1), seed ^ 0x5eed);
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut p = filler.prompt(&mut rng);
            p.truncate(profile.shared_prefix_tokens as usize * CHARS_PER_TOKEN);
            Arc::from(p)
        });
        let mut scenarios = Vec::new();
        // Every pool key's run-wide index (first seen first), and the rings made so far:
        // scenarios with the same pool share one, so its rotation spans them all.
        let mut run_keys: Vec<String> = Vec::new();
        let mut rings: Vec<(&crate::profile::keys::KeyPool, Arc<KeyRing>)> = Vec::new();
        for (i, spec) in profile.scenarios.iter().enumerate() {
            let keys = spec.keys.as_ref().map(|pool| match rings.iter().find(|(p, _)| *p == pool) {
                Some((_, ring)) => ring.clone(),
                None => {
                    let ring =
                        Arc::new(KeyRing::new(pool, &mut |k| match run_keys.iter().position(|s| s == k) {
                            Some(at) => at as u16,
                            None => {
                                run_keys.push(k.to_string());
                                (run_keys.len() - 1) as u16
                            }
                        }));
                    rings.push((pool, ring.clone()));
                    ring
                }
            });
            let protocol = spec.protocol;
            // The endpoint gives host and port; the path is the scenario's own.
            let mut target = targets[target_index[i]].clone();
            target.base_path =
                Target::parse(&spec.target).map_err(|e| format!("scenarios[{i}].target: {e}"))?.base_path;
            let target = &target;
            let prompts = match &spec.content {
                Content::Pool(p) => Prompts::Pool(p.clone()),
                Content::Scripted(s) => Prompts::Scripted(s.clone()),
                Content::Sized(tokens) => match profile.tokenizer {
                    Some(t) => Prompts::Exact(ExactFiller::new(*tokens, t, seed ^ i as u64)),
                    None => Prompts::Sized(Filler::new(*tokens, seed ^ i as u64)),
                },
                Content::Dataset(d) => {
                    Prompts::Dataset(DatasetReplay::new(d.data.clone(), d.order, d.history))
                }
            };
            let tokenizer = profile.tokenizer.map(|t| {
                let system = spec.system.as_deref().map_or(0, |s| u64::from(t.count(s)));
                let prefix = shared_prefix.as_ref().map_or(0, |_| u64::from(profile.shared_prefix_tokens));
                (t, system, prefix)
            });
            scenarios.push(Arc::new(Scenario {
                name: spec.name.clone(),
                protocol,
                target: target_index[i],
                head: render_head(spec, target, protocol, !profile.disable_keepalive),
                model: spec.model.clone(),
                system_json: spec.system.as_ref().map(|s| {
                    let mut j = String::new();
                    json_string(s, &mut j);
                    j
                }),
                max_tokens: spec.max_tokens,
                stream: spec.stream,
                turns: spec.turns,
                prompts,
                think_time: spec.think_time,
                slo: spec.slo.clone(),
                cancel: spec.cancel,
                shared_prefix: shared_prefix.clone(),
                tokenizer,
                extra_json: super::options::render(&spec.options, protocol),
                // Dataset conversations replay their recorded turns: no tool-result turns.
                tool_results: (!spec.options.tools.is_empty()
                    && !matches!(spec.content, Content::Dataset(_)))
                .then(|| {
                    let tokens = spec.options.tool_result_tokens.unwrap_or(DEFAULT_TOOL_RESULT_TOKENS);
                    Filler::bare(tokens, seed ^ 0x7001 ^ i as u64)
                }),
                json: super::options::json_shape(&spec.options, protocol),
                bust: profile.cache_mode == CacheMode::Bust && profile.correlation.uuid_in_prompt,
                correlation_header: profile.correlation.header.clone(),
                session_header: profile.sessions.header.clone().filter(|h| {
                    !profile.correlation.header.as_ref().is_some_and(|c| c.eq_ignore_ascii_case(h))
                }),
                keys,
            }));
        }
        if run_keys.len() > usize::from(u16::MAX) + 1 {
            return Err(format!(
                "api_keys: {} distinct keys across the scenarios, above the limit 65536",
                run_keys.len()
            ));
        }
        let weights = profile.scenarios.iter().map(|s| s.weight).collect();
        Ok(ProfileWorkload { scenarios, weights })
    }
}

impl Workload for ProfileWorkload {
    fn scenarios(&self) -> Vec<String> {
        self.scenarios.iter().map(|s| s.name.clone()).collect()
    }

    fn scenario_for_user(&self, user: u32, users: u32) -> usize {
        index_of(user, &largest_remainder(users, &self.weights))
    }

    fn scenario_for_arrival(&self, draw: f64) -> usize {
        by_draw(draw, &self.weights)
    }

    fn split_arrivals(&self, n: u64, draw: &mut dyn FnMut() -> f64) -> Vec<u64> {
        split(n, &self.weights, draw)
    }

    fn replay(&self, scenario: usize, seed: u64, block_tokens: u32) -> Box<dyn Replay> {
        Box::new(ReplaySession::new(scenario, self.scenarios[scenario].clone(), seed, block_tokens))
    }

    fn session(&self, scenario: usize, seed: u64) -> Box<dyn Session> {
        let sc = self.scenarios[scenario].clone();
        let mut s = ProfileSession {
            scenario,
            decoder: sc.decoder(),
            sc,
            rng: SmallRng::seed_from_u64(seed),
            uuid: Uuid::default(),
            turns_total: 1,
            turn: 0,
            history: Vec::new(),
            live: 0,
            entry: 0,
            tally: None,
            tool_turn: None,
            key: None,
        };
        s.begin(seed);
        Box::new(s)
    }
}

/// What goes in front of a conversation's first user message, JSON-escaped without quotes:
/// the shared prefix, then the cache-busting id.
fn first_prefix(sc: &Scenario, uuid: &Uuid, json: &mut String) {
    if let Some(prefix) = sc.shared_prefix.as_deref() {
        json_string_body(prefix, json);
        json.push_str("\\n\\n");
    }
    if sc.bust {
        bust_id(uuid, json);
    }
}

/// The cache-busting id in front of a first message.
fn bust_id(uuid: &Uuid, json: &mut String) {
    json.push_str("[conversation ");
    json.push_str(uuid.as_str());
    json.push_str("] ");
}

/// One conversation of a profile scenario.
struct ProfileSession {
    scenario: usize,
    sc: Arc<Scenario>,
    decoder: ReplyDecoder,
    rng: SmallRng,
    uuid: Uuid,
    turns_total: u32,
    /// Turns built so far.
    turn: u32,
    /// The conversation's messages are `history[..live]`; entries past them are spares from
    /// an earlier conversation of this session, whose strings are reused (no allocation).
    history: Vec<Message>,
    live: usize,
    /// The dataset entry this conversation replays (dataset scenarios; else 0).
    entry: usize,
    /// With a tokenizer: the conversation counted.
    tally: Option<Tally>,
    /// The next turn sends the tool results already in the history (no user message); the
    /// results' tokens by the tokenizer (0 without one).
    tool_turn: Option<u64>,
    /// The pool key of the turn last built.
    key: Option<KeyTag>,
}

impl ProfileSession {
    /// Starts a conversation from `seed`: its turns, id, dataset entry and tally.
    fn begin(&mut self, seed: u64) {
        let sc = &*self.sc;
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut turns_total = rng.gen_range(sc.turns.0..=sc.turns.1.max(sc.turns.0));
        self.uuid = uuid_v4(&mut rng);
        // A dataset entry is a whole conversation: it sets the turns.
        self.entry = 0;
        if let Prompts::Dataset(d) = &sc.prompts {
            self.entry = d.pick(&mut rng);
            turns_total = d.conversation(self.entry).turns.len() as u32;
        }
        // Dataset conversations are not counted client-side (their messages come escaped).
        let counted = !matches!(sc.prompts, Prompts::Dataset(_));
        self.tally = sc.tokenizer.filter(|_| counted).map(|(t, system, _)| Tally::new(t, system));
        self.rng = rng;
        self.turns_total = turns_total;
        self.turn = 0;
        self.live = 0;
        self.tool_turn = None;
        self.decoder = sc.decoder();
    }

    /// A string for the next message: a spare one, emptied, or a new one.
    fn slot(&mut self) -> String {
        match self.history.get_mut(self.live) {
            Some(m) => {
                let mut s = std::mem::take(&mut m.content_json);
                s.clear();
                s
            }
            None => String::new(),
        }
    }

    /// Appends a message (into the slot `slot` took its string from).
    fn put(&mut self, role: Role, content_json: String) {
        let m = Message { role, content_json };
        match self.history.get_mut(self.live) {
            Some(spare) => *spare = m,
            None => self.history.push(m),
        }
        self.live += 1;
    }

    /// After a reply that called tools: its calls, then one result per call, join the history
    /// in the protocol's shape, and the next turn sends them in place of a user message (as an
    /// agent loop does). False (nothing added) when the decoder kept no call.
    fn push_tool_turn(&mut self, reply: &str) -> bool {
        // The scenario's handle (not its filler) is copied: the session is changed below.
        let sc = self.sc.clone();
        let Some(filler) = &sc.tool_results else { return false };
        let protocol = sc.protocol;
        let mut calls = self.slot();
        let Some(role) = tool_turn::write_calls(protocol, self.decoder.read(), reply, &mut calls) else {
            // Nothing written: the string goes back to its spare entry.
            if let Some(spare) = self.history.get_mut(self.live) {
                spare.content_json = calls;
            }
            return false;
        };
        self.put(role, calls);
        if let Some(tally) = &mut self.tally {
            tally.reply_kept(reply);
        }
        let mut results = self.slot();
        let counter = sc.tokenizer.filter(|_| self.tally.is_some()).map(|(t, _, _)| t);
        let (rng, mut tokens) = (&mut self.rng, 0);
        let role = tool_turn::write_results(protocol, self.decoder.read(), &mut results, &mut |_, out| {
            let text = filler.passage(rng);
            tokens += counter.map_or(0, |t| u64::from(t.count(text)));
            json_string_body(text, out);
        });
        self.put(role, results);
        self.tool_turn = Some(tokens);
        true
    }

    /// Appends the next user message to the history as a JSON string literal, escaped piece
    /// by piece straight into one string (escaping is per character, so the pieces join into
    /// the literal of the whole text). A dataset turn appends its pre-escaped messages.
    /// Returns the message's tokens by the tokenizer (0 without one, or for a dataset).
    fn push_user(&mut self) -> u64 {
        if let (Some((tokenizer, _, prefix_tokens)), true) = (self.sc.tokenizer, self.tally.is_some()) {
            let (content_json, tokens) = self.counted_user_json(tokenizer, prefix_tokens);
            self.put(Role::User, content_json);
            return tokens;
        }
        let turn = self.turn as usize;
        let mut json = self.slot();
        let sc = &*self.sc;
        let sized;
        let text: &str = match &sc.prompts {
            Prompts::Pool(p) => &p[self.rng.gen_range(0..p.len())],
            Prompts::Scripted(s) => &s[(turn - 1) % s.len()],
            Prompts::Sized(f) => {
                sized = f.prompt(&mut self.rng);
                &sized
            }
            Prompts::Dataset(d) => {
                let mut prefix = String::new();
                if turn == 1 {
                    first_prefix(sc, &self.uuid, &mut prefix);
                }
                self.history.truncate(self.live);
                d.conversation(self.entry).push_turn(self.turn, &prefix, &mut self.history);
                self.live = self.history.len();
                return 0;
            }
            Prompts::Exact(_) => unreachable!("exact prompts are built with their tokenizer"),
        };
        let prefix = sc.shared_prefix.as_deref().filter(|_| turn == 1);
        json.reserve(text.len() + prefix.map_or(0, str::len) + 64);
        match sc.shared_prefix.as_deref().filter(|_| turn == 1 && sc.protocol == ProtocolKind::Anthropic) {
            // Anthropic caches only what a `cache_control` breakpoint ends: the shared prefix
            // is a text block of its own, marked, and the rest of the message follows it.
            Some(prefix) => {
                json.push_str("[{\"type\":\"text\",\"text\":\"");
                json_string_body(prefix, &mut json);
                json.push_str(
                    "\",\"cache_control\":{\"type\":\"ephemeral\"}},{\"type\":\"text\",\"text\":\"",
                );
                if sc.bust {
                    bust_id(&self.uuid, &mut json);
                }
                json_string_body(text, &mut json);
                json.push_str("\"}]");
            }
            None => {
                json.push('"');
                if turn == 1 {
                    first_prefix(sc, &self.uuid, &mut json);
                }
                json_string_body(text, &mut json);
                json.push('"');
            }
        }
        self.put(Role::User, json);
        0
    }

    /// `push_user` with a tokenizer: the message is made whole, then counted (sized text
    /// counts by construction), then escaped; returns it with its tokens.
    fn counted_user_json(&mut self, tokenizer: Tokenizer, prefix_tokens: u64) -> (String, u64) {
        let turn = self.turn as usize;
        let sc = &*self.sc;
        let mut text = String::new();
        let mut lead = String::new();
        let mut fixed = 0;
        if turn == 1 {
            if let Some(prefix) = &sc.shared_prefix {
                // Exact words: the prefix adds its length to what follows the newline.
                text.push_str(prefix);
                fixed = prefix_tokens;
                lead.push_str("\n\n");
            }
            if sc.bust {
                lead.push_str("[conversation ");
                lead.push_str(self.uuid.as_str());
                lead.push_str("] ");
            }
        }
        let after_prefix = text.len();
        let tokens = match &sc.prompts {
            Prompts::Exact(f) => f.write(&mut self.rng, &lead, &mut text),
            Prompts::Pool(p) => {
                text.push_str(&lead);
                text.push_str(&p[self.rng.gen_range(0..p.len())]);
                u64::from(tokenizer.count(&text[after_prefix..]))
            }
            Prompts::Scripted(s) => {
                text.push_str(&lead);
                text.push_str(&s[(turn - 1) % s.len()]);
                u64::from(tokenizer.count(&text[after_prefix..]))
            }
            Prompts::Sized(_) => unreachable!("with a tokenizer sized prompts are exact"),
            Prompts::Dataset(_) => unreachable!("dataset conversations are not counted"),
        };
        let mut json = String::new();
        json_string(&text, &mut json);
        (json, fixed + tokens)
    }

    /// This turn's system prompt and `max_tokens`: a dataset entry's own, else the scenario's.
    fn system_and_max_tokens(sc: &Scenario, entry: usize, turn: u32) -> (Option<&str>, u32) {
        match &sc.prompts {
            Prompts::Dataset(d) => {
                let c = d.conversation(entry);
                let system = c.system_json.as_deref().or(sc.system_json.as_deref());
                (system, c.max_tokens(turn).unwrap_or(sc.max_tokens))
            }
            _ => (sc.system_json.as_deref(), sc.max_tokens),
        }
    }
}

impl Session for ProfileSession {
    fn scenario(&self) -> usize {
        self.scenario
    }

    fn target(&self) -> usize {
        self.sc.target
    }

    fn build(&mut self, out: &mut Vec<u8>) {
        self.turn += 1;
        let tokens = match self.tool_turn.take() {
            Some(results) => results,
            None => self.push_user(),
        };
        // Borrowed field by field: the tally changes while the scenario is read.
        let ProfileSession { sc, entry, turn, history, live, uuid, tally, key, .. } = self;
        let (system_json, max_tokens) = Self::system_and_max_tokens(sc, *entry, *turn);
        *key = sc.write_request(system_json, &history[..*live], max_tokens, uuid, out);
        if let Some(tally) = tally {
            let turn = TurnBody {
                model: &sc.model,
                system_json,
                messages: &history[..*live],
                max_tokens,
                stream: sc.stream,
                extra_json: &sc.extra_json,
            };
            tally.user(tokens, sc.protocol, &turn);
        }
    }

    fn key(&self) -> Option<KeyTag> {
        self.key
    }

    fn decoder(&mut self) -> &mut dyn Decoder {
        self.decoder.get()
    }

    fn keeps_reply(&self) -> bool {
        self.tally.is_some()
            || match &self.sc.prompts {
                Prompts::Dataset(d) => d.needs_reply(self.entry),
                _ => self.turns_total > 1,
            }
    }

    fn tokenizer_counts(&mut self, reply: Option<&str>) -> Option<TokenizerCounts> {
        Some(self.tally.as_mut()?.counts(reply.unwrap_or("")))
    }

    fn restart(&mut self, seed: u64) -> bool {
        self.begin(seed);
        true
    }

    fn turn_done(&mut self, outcome: &Outcome, reply: Option<&str>) -> Option<Duration> {
        // A failed turn has no reply to build on: the conversation ends (as nexus-loadtest).
        if !outcome.is_ok() || self.turn >= self.turns_total {
            return None;
        }
        // The tool-result turn is one of the conversation's turns (it replaces a user turn);
        // the think time before it stands for the tools' run time.
        if outcome.finish == Some(Finish::ToolCalls) && self.push_tool_turn(reply.unwrap_or("")) {
            return Some(self.sc.think_time);
        }
        let mut content_json = self.slot();
        let recorded = match &self.sc.prompts {
            Prompts::Dataset(d) => d.recorded_reply(self.entry, self.turn),
            _ => None,
        };
        match recorded {
            Some(r) => content_json.push_str(r),
            None => json_string(reply.unwrap_or(""), &mut content_json),
        }
        self.put(Role::Assistant, content_json);
        if let Some(tally) = &mut self.tally {
            tally.reply_kept(reply.unwrap_or(""));
        }
        Some(self.sc.think_time)
    }

    fn turn(&self) -> (u32, u32) {
        (self.turn, self.turns_total)
    }

    fn conversation_id(&self) -> &str {
        self.uuid.as_str()
    }

    fn protocol(&self) -> &'static str {
        self.sc.protocol.name()
    }

    fn stream(&self) -> bool {
        self.sc.stream
    }

    fn within_slo(&self, o: &Outcome) -> bool {
        self.sc.within_slo(o)
    }

    fn client_cancel(&mut self) -> Option<CancelAfter> {
        self.sc.draw_cancel(&mut self.rng)
    }
}
