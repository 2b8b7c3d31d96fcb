//! Path → route. Every API route is mounted under `/v1`, `/openai/v1` and `/anthropic/v1`.

use crate::wire::api_error::Family;

/// A route the mock serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Models,
    Model,
    ChatCompletions,
    Completions,
    Embeddings,
    Responses,
    Messages,
    CountTokens,
    Health,
    Metrics,
    NotFound,
}

impl Route {
    /// Every route, in metrics order.
    pub(crate) const ALL: [Route; 11] = [
        Route::Models,
        Route::Model,
        Route::ChatCompletions,
        Route::Completions,
        Route::Embeddings,
        Route::Responses,
        Route::Messages,
        Route::CountTokens,
        Route::Health,
        Route::Metrics,
        Route::NotFound,
    ];

    /// Index into per-route counters.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The label used in /metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Route::Models => "models",
            Route::Model => "model",
            Route::ChatCompletions => "chat_completions",
            Route::Completions => "completions",
            Route::Embeddings => "embeddings",
            Route::Responses => "responses",
            Route::Messages => "messages",
            Route::CountTokens => "count_tokens",
            Route::Health => "health",
            Route::Metrics => "metrics",
            Route::NotFound => "not_found",
        }
    }

    /// True for routes answered to GET; the rest take POST.
    pub(crate) fn is_get(self) -> bool {
        matches!(self, Route::Models | Route::Model | Route::Health | Route::Metrics)
    }

    /// The provider whose shapes a route follows, before header hints.
    fn family(self) -> Option<Family> {
        match self {
            Route::Messages | Route::CountTokens => Some(Family::Anthropic),
            Route::Models | Route::Model | Route::NotFound => None,
            _ => Some(Family::OpenAi),
        }
    }
}

/// A routed request path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Routed<'a> {
    pub route: Route,
    pub family: Family,
    /// The `{id}` of `/models/{id}`.
    pub model_id: &'a str,
}

/// Routes `path` (query string ignored). `/models` answers in Anthropic's shape when the
/// client sent `anthropic-version` (the Anthropic SDK always does); unknown paths also when
/// the prefix is `/anthropic/v1`.
pub(crate) fn route(path: &str, anthropic_hint: bool) -> Routed<'_> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let (rest, prefix_anthropic) = if let Some(r) = path.strip_prefix("/anthropic/v1") {
        (Some(r), true)
    } else if let Some(r) = path.strip_prefix("/openai/v1") {
        (Some(r), false)
    } else {
        (path.strip_prefix("/v1"), false)
    };
    let mut model_id = "";
    let route = match (path, rest) {
        ("/health", _) => Route::Health,
        ("/metrics", _) => Route::Metrics,
        (_, Some("/models")) => Route::Models,
        (_, Some("/chat/completions")) => Route::ChatCompletions,
        (_, Some("/completions")) => Route::Completions,
        (_, Some("/embeddings")) => Route::Embeddings,
        (_, Some("/responses")) => Route::Responses,
        (_, Some("/messages")) => Route::Messages,
        (_, Some("/messages/count_tokens")) => Route::CountTokens,
        (_, Some(r)) if r.starts_with("/models/") && r.len() > "/models/".len() => {
            model_id = &r["/models/".len()..];
            Route::Model
        }
        _ => Route::NotFound,
    };
    let anthropic = anthropic_hint || (prefix_anthropic && route == Route::NotFound);
    let family = route.family().unwrap_or(if anthropic { Family::Anthropic } else { Family::OpenAi });
    Routed { route, family, model_id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_mounts_every_route() {
        for prefix in ["/v1", "/openai/v1", "/anthropic/v1"] {
            assert_eq!(route(&format!("{prefix}/chat/completions"), false).route, Route::ChatCompletions);
            assert_eq!(route(&format!("{prefix}/messages/count_tokens"), false).route, Route::CountTokens);
            assert_eq!(route(&format!("{prefix}/responses?x=1"), false).route, Route::Responses);
            let path = format!("{prefix}/models/mock-gpt");
            let m = route(&path, false);
            assert_eq!((m.route, m.model_id), (Route::Model, "mock-gpt"));
        }
        assert_eq!(route("/health", false).route, Route::Health);
        assert_eq!(route("/v1/nope", false).route, Route::NotFound);
        assert_eq!(route("/v2/chat/completions", false).route, Route::NotFound);
        assert_eq!(route("/v1/models/", false).route, Route::Models);
    }

    #[test]
    fn families() {
        assert_eq!(route("/v1/messages", false).family, Family::Anthropic);
        assert_eq!(route("/anthropic/v1/chat/completions", false).family, Family::OpenAi);
        assert_eq!(route("/v1/models", true).family, Family::Anthropic);
        assert_eq!(route("/anthropic/v1/models", false).family, Family::OpenAi);
        assert_eq!(route("/anthropic/v1/nope", false).family, Family::Anthropic);
        assert_eq!(route("/v1/models", false).family, Family::OpenAi);
    }
}
