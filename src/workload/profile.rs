//! The workload of a profile: weighted scenarios of multi-turn conversations over four
//! protocols, with content modes, cache busting and a correlation id per conversation.
//!
//! Everything that does not change per request is rendered once per scenario (request line,
//! headers, model, system prompt as a JSON literal, sized filler); a turn appends the new user
//! message (escaped once and kept in the history) and writes the body by concatenation.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::content::{uuid_v4, Filler, Uuid, CHARS_PER_TOKEN};
use super::replay::ReplaySession;
use super::{Replay, Session, Workload};
use crate::http::target::Target;
use crate::metrics::{Limit, Measure, Metric, Outcome};
use crate::profile::apportion::{by_draw, index_of, largest_remainder, split};
use crate::profile::{CacheMode, Content, Profile, ScenarioSpec};
use crate::protocol::kind::AnyDecoder;
use crate::protocol::{json_string, json_string_body, Decoder, Message, ProtocolKind, Role, TurnBody};

/// Where a scenario's user messages come from, ready to use.
enum Prompts {
    Pool(Vec<String>),
    Scripted(Vec<String>),
    Sized(Filler),
}

/// One scenario, compiled.
pub(super) struct Scenario {
    name: String,
    pub(super) protocol: ProtocolKind,
    pub(super) target: usize,
    /// `POST /path HTTP/1.1` + host + every static header, each line CRLF-terminated.
    head: String,
    model: String,
    pub(super) system_json: Option<String>,
    max_tokens: u32,
    pub(super) stream: bool,
    turns: (u32, u32),
    prompts: Prompts,
    think_time: Duration,
    slo: Vec<Limit>,
    /// Prefix of the first user message shared by every conversation (shared-prefix mode).
    shared_prefix: Option<Arc<str>>,
    bust: bool,
    correlation_header: Option<String>,
    /// The session-affinity header, when it is not the correlation header already.
    session_header: Option<String>,
}

impl Scenario {
    /// Writes one turn's complete HTTP request into `out`. The body goes first, then the head
    /// (whose content-length needs the body's length) is appended and rotated in front of
    /// it: no buffer of its own.
    pub(super) fn write_request(
        &self,
        system_json: Option<&str>,
        messages: &[Message],
        max_tokens: u32,
        uuid: &Uuid,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        let turn = TurnBody { model: &self.model, system_json, messages, max_tokens, stream: self.stream };
        self.protocol.write_body(&turn, out);
        let body_len = out.len() - start;
        out.extend_from_slice(self.head.as_bytes());
        for h in [&self.correlation_header, &self.session_header].into_iter().flatten() {
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(uuid.as_str().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out[start..].rotate_left(body_len);
    }

    /// Whether a finished turn met the scenario's SLOs (goodput); without SLOs, success.
    pub(super) fn within_slo(&self, o: &Outcome) -> bool {
        // A request without the value cannot miss its limit, except a stream's TTFT: a
        // stream that sent no token missed it.
        o.is_ok()
            && self.slo.iter().all(|l| match l.request_value(o) {
                Some(v) => l.holds(v),
                None => !(self.stream && l.measure == Measure::Request(Metric::Ttft)),
            })
    }
}

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
            let filler = Filler::new(profile.shared_prefix_tokens.max(1), seed ^ 0x5eed);
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut p = filler.prompt(&mut rng);
            p.truncate(profile.shared_prefix_tokens as usize * CHARS_PER_TOKEN);
            Arc::from(p)
        });
        let mut scenarios = Vec::new();
        for (i, spec) in profile.scenarios.iter().enumerate() {
            let protocol = spec.protocol;
            // The endpoint gives host and port; the path is the scenario's own.
            let mut target = targets[target_index[i]].clone();
            target.base_path =
                Target::parse(&spec.target).map_err(|e| format!("scenarios[{i}].target: {e}"))?.base_path;
            let target = &target;
            let prompts = match &spec.content {
                Content::Pool(p) => Prompts::Pool(p.clone()),
                Content::Scripted(s) => Prompts::Scripted(s.clone()),
                Content::Sized(tokens) => Prompts::Sized(Filler::new(*tokens, seed ^ i as u64)),
            };
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
                shared_prefix: shared_prefix.clone(),
                bust: profile.cache_mode == CacheMode::Bust && profile.correlation.uuid_in_prompt,
                correlation_header: profile.correlation.header.clone(),
                session_header: profile.sessions.header.clone().filter(|h| {
                    !profile.correlation.header.as_ref().is_some_and(|c| c.eq_ignore_ascii_case(h))
                }),
            }));
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
        let mut rng = SmallRng::seed_from_u64(seed);
        let turns_total = rng.gen_range(sc.turns.0..=sc.turns.1.max(sc.turns.0));
        let uuid = uuid_v4(&mut rng);
        Box::new(ProfileSession {
            scenario,
            decoder: sc.protocol.decoder(),
            sc,
            rng,
            uuid,
            turns_total,
            turn: 0,
            history: Vec::new(),
        })
    }
}

/// One conversation of a profile scenario.
struct ProfileSession {
    scenario: usize,
    sc: Arc<Scenario>,
    decoder: AnyDecoder,
    rng: SmallRng,
    uuid: Uuid,
    turns_total: u32,
    /// Turns built so far.
    turn: u32,
    history: Vec<Message>,
}

impl ProfileSession {
    /// The next user message as a JSON string literal, escaped piece by piece straight into
    /// one string (escaping is per character, so the pieces join into the literal of the
    /// whole text).
    fn user_json(&mut self) -> String {
        let turn = self.turn as usize;
        let sc = &*self.sc;
        let sized;
        let text: &str = match &sc.prompts {
            Prompts::Pool(p) => &p[self.rng.gen_range(0..p.len())],
            Prompts::Scripted(s) => &s[(turn - 1) % s.len()],
            Prompts::Sized(f) => {
                sized = f.prompt(&mut self.rng);
                &sized
            }
        };
        let prefix = sc.shared_prefix.as_deref().filter(|_| turn == 1);
        let mut json = String::with_capacity(text.len() + prefix.map_or(0, str::len) + 64);
        json.push('"');
        if turn == 1 {
            if let Some(prefix) = prefix {
                json_string_body(prefix, &mut json);
                json.push_str("\\n\\n");
            }
            if sc.bust {
                json.push_str("[conversation ");
                json.push_str(self.uuid.as_str());
                json.push_str("] ");
            }
        }
        json_string_body(text, &mut json);
        json.push('"');
        json
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
        let content_json = self.user_json();
        self.history.push(Message { role: Role::User, content_json });
        let sc = &self.sc;
        sc.write_request(sc.system_json.as_deref(), &self.history, sc.max_tokens, &self.uuid, out);
    }

    fn decoder(&mut self) -> &mut dyn Decoder {
        &mut self.decoder
    }

    fn keeps_reply(&self) -> bool {
        self.turns_total > 1
    }

    fn turn_done(&mut self, outcome: &Outcome, reply: Option<&str>) -> Option<Duration> {
        // A failed turn has no reply to build on: the conversation ends (as nexus-loadtest).
        if !outcome.is_ok() || self.turn >= self.turns_total {
            return None;
        }
        let mut content_json = String::new();
        json_string(reply.unwrap_or(""), &mut content_json);
        self.history.push(Message { role: Role::Assistant, content_json });
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
}
