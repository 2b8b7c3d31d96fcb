//! The profile `llmload run --target URL` makes from its flags when no profile file is given:
//! one pool scenario (or one dataset scenario with `--dataset`), built as a `RawProfile` value
//! so it goes through the same overrides and validation as a file. Errors in these flags are
//! named after the flag.

use std::path::Path;

use super::limits;
use super::scenario::{is_http_url, protocol_named};
use super::schema::{RawContent, RawDefaults, RawProfile, RawScenario, RawStages};
use super::suggest::not_one_of;
use crate::data::dataset::Format;

/// Stages of the implicit profile when `--stages` is not given.
const STAGES: &str = "8:10s";
/// Model when `--model` is not given (the built-in mock's).
const MODEL: &str = "mock-gpt";
/// `--protocol` when not given.
pub(crate) const PROTOCOL: &str = "openai-chat";
/// `--max-tokens` when not given.
pub(crate) const MAX_TOKENS: u32 = 64;
/// `--prompt` when not given.
pub(crate) const PROMPT: &str = "Say something short about load testing.";

/// The flags that describe the implicit profile.
#[derive(Clone, Debug)]
pub(crate) struct Implicit {
    /// `--target`: a base URL (`http://h` or `http://h/v1`, given the protocol's path) or a
    /// full endpoint URL (kept as it is).
    pub target: String,
    /// `--protocol`.
    pub protocol: String,
    /// `--model`.
    pub model: Option<String>,
    /// `--max-tokens`.
    pub max_tokens: u32,
    /// `--stream`.
    pub stream: bool,
    /// `--prompt`: the user message.
    pub prompt: String,
    /// `--dataset`: a dataset file whose entries are sent instead of `prompt` (relative to
    /// the working directory).
    pub dataset: Option<String>,
    /// `--dataset-format`; without it, the file's extension tells.
    pub dataset_format: Option<String>,
}

impl Implicit {
    /// The one-scenario profile, or every flag error.
    pub(crate) fn raw(&self) -> Result<RawProfile, Vec<String>> {
        let mut errs = Vec::new();
        let protocol = protocol_named(&mut errs, "--protocol", &self.protocol);
        if !is_http_url(&self.target) {
            errs.push(format!(
                "--target: {:?} is not an http(s) URL (e.g. \"http://localhost:8080/v1\")",
                self.target
            ));
        }
        // Checked here: in a profile a max_tokens of 0 means "the default" (nexus's rule).
        if let Err(e) = limits::within(self.max_tokens.into(), 1, limits::MAX_OUTPUT_TOKENS.into()) {
            errs.push(format!("--max-tokens: {e}"));
        }
        if self.model.as_ref().is_some_and(String::is_empty) {
            errs.push("--model: empty".into());
        }
        self.check_dataset(&mut errs);
        let Some(protocol) = protocol.filter(|_| errs.is_empty()) else { return Err(errs) };
        // A base URL (`http://h/v1`) gets the protocol's path; a full endpoint URL is kept.
        let known = ["/chat/completions", "/messages", "/responses", "/completions"];
        let trimmed = self.target.trim_end_matches('/');
        let url = if known.iter().any(|k| trimmed.ends_with(k)) {
            trimmed.to_string()
        } else if trimmed.ends_with("/v1") {
            format!("{trimmed}{}", &protocol.default_path()[3..])
        } else {
            format!("{trimmed}{}", protocol.default_path())
        };
        Ok(RawProfile {
            defaults: Some(RawDefaults {
                protocol: Some(protocol.name().into()),
                target: Some(url),
                model: Some(self.model.clone().unwrap_or_else(|| MODEL.into())),
                max_tokens: Some(self.max_tokens.into()),
                stream: Some(self.stream),
                ..RawDefaults::default()
            }),
            // `--stages` replaces this as an override, so its errors name the flag.
            stages: Some(RawStages::Text(STAGES.into())),
            scenarios: Some(vec![RawScenario {
                name: Some("default".into()),
                content: Some(match &self.dataset {
                    Some(path) => RawContent {
                        mode: Some("dataset".into()),
                        path: Some(path.clone()),
                        format: self.dataset_format.clone(),
                        ..RawContent::default()
                    },
                    None => RawContent {
                        mode: Some("pool".into()),
                        prompts: Some(vec![self.prompt.clone()]),
                        ..RawContent::default()
                    },
                }),
                ..RawScenario::default()
            }]),
            ..RawProfile::default()
        })
    }

    /// `--dataset` and `--dataset-format`, so their mistakes name the flags (the file's
    /// contents are checked with the profile).
    fn check_dataset(&self, errs: &mut Vec<String>) {
        if let Some(f) = &self.dataset_format {
            if self.dataset.is_none() {
                errs.push("--dataset-format: only with --dataset".into());
            } else if Format::parse(f).is_none() {
                errs.push(not_one_of("--dataset-format", f, &Format::NAMES));
            }
        }
        let Some(d) = &self.dataset else { return };
        if self.dataset_format.is_none() && Format::from_extension(Path::new(d)).is_none() {
            errs.push(format!(
                "--dataset {d:?}: the name does not tell the format (.jsonl, .json and .txt do); \
                 give --dataset-format ({})",
                Format::NAMES.join(", ")
            ));
        } else if let Err(e) = std::fs::metadata(d) {
            errs.push(format!("--dataset: cannot read {d}: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{apply, from_json, Overrides};
    use crate::protocol::ProtocolKind;

    fn flags(target: &str, protocol: &str) -> Implicit {
        Implicit {
            target: target.into(),
            protocol: protocol.into(),
            model: None,
            max_tokens: 64,
            stream: true,
            prompt: "hi".into(),
            dataset: None,
            dataset_format: None,
        }
    }

    #[test]
    fn base_urls_get_the_protocol_path_and_endpoints_are_kept() {
        let url = |t: &str, p: &str| {
            let p = apply(flags(t, p).raw().unwrap(), &Overrides::default()).unwrap();
            (p.scenarios[0].target.clone(), p.scenarios[0].protocol)
        };
        assert_eq!(
            url("http://h:1", "anthropic"),
            ("http://h:1/v1/messages".into(), ProtocolKind::Anthropic)
        );
        assert_eq!(url("http://h:1/v1/", "openai-chat").0, "http://h:1/v1/chat/completions");
        assert_eq!(url("http://h:1/x/responses", "openai-chat").0, "http://h:1/x/responses");
    }

    #[test]
    fn the_recorded_json_is_the_same_profile() {
        let raw = flags("http://h:1", "openai-responses").raw().unwrap();
        let json = raw.to_json();
        assert!(json["defaults"].get("system").is_none(), "unset fields are left out: {json}");
        assert_eq!(from_json(&json.to_string()).unwrap(), apply(raw, &Overrides::default()).unwrap());
    }

    #[test]
    fn flag_errors_name_the_flag_and_suggest() {
        let mut f = flags("localhost:8080", "anthropc");
        f.max_tokens = 0;
        let e = f.raw().unwrap_err();
        assert_eq!(
            e[0],
            "--protocol: \"anthropc\" is not one of openai-chat, anthropic, openai-responses, \
             openai-completions; did you mean \"anthropic\"?"
        );
        assert!(e[1].starts_with("--target: \"localhost:8080\" is not an http(s) URL"), "{}", e[1]);
        assert_eq!(e[2], "--max-tokens: 0 must be at least 1");
    }
}
