//! The minimal workload of `llmload run --target URL` without a profile: one OpenAI-chat
//! scenario, one single-turn request rendered once and sent again and again.

use std::sync::Arc;
use std::time::Duration;

use super::{Session, Workload};
use crate::http::target::Target;
use crate::metrics::Outcome;
use crate::protocol::openai_chat::OpenAiChat;
use crate::protocol::Decoder;

/// One static chat request.
pub struct SimpleWorkload {
    request: Arc<Vec<u8>>,
}

/// What the simple workload sends.
pub struct SimpleSpec<'a> {
    pub model: &'a str,
    pub max_tokens: u32,
    pub stream: bool,
    pub prompt: &'a str,
    /// Extra header lines (`Name: value`), secrets included (never printed).
    pub headers: &'a [(String, String)],
}

impl SimpleWorkload {
    pub fn new(target: &Target, spec: &SimpleSpec<'_>) -> SimpleWorkload {
        let mut body = serde_json::json!({
            "model": spec.model,
            "messages": [{"role": "user", "content": spec.prompt}],
            "max_tokens": spec.max_tokens,
            "stream": spec.stream,
        });
        if spec.stream {
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        let body = serde_json::to_vec(&body).expect("serializes");
        let mut req = format!(
            "POST {}/chat/completions HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            target.base_path,
            target.host_header(),
            body.len()
        );
        for (k, v) in spec.headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&body);
        SimpleWorkload { request: Arc::new(bytes) }
    }
}

impl Workload for SimpleWorkload {
    fn scenarios(&self) -> Vec<String> {
        vec!["chat".into()]
    }
    fn scenario_for_user(&self, _: u32, _: u32) -> usize {
        0
    }
    fn scenario_for_arrival(&self, _: f64) -> usize {
        0
    }
    fn session(&self, _: usize, _: u64) -> Box<dyn Session> {
        Box::new(SimpleSession { request: self.request.clone(), decoder: OpenAiChat::default() })
    }
}

struct SimpleSession {
    request: Arc<Vec<u8>>,
    decoder: OpenAiChat,
}

impl Session for SimpleSession {
    fn scenario(&self) -> usize {
        0
    }
    fn build(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.request);
    }
    fn decoder(&mut self) -> &mut dyn Decoder {
        &mut self.decoder
    }
    fn keeps_reply(&self) -> bool {
        false
    }
    fn turn_done(&mut self, _: &Outcome, _: Option<&str>) -> Option<Duration> {
        None
    }
    fn turn(&self) -> (u32, u32) {
        (1, 1)
    }
}
