//! The control API of `harvestd run` (axum, HTTP/1.1), bound to `api_listen` (loopback by
//! default). Every request carries `Authorization: Bearer TOKEN` when `api_token` is set (it must
//! be when the API listens beyond loopback). Routes:
//!
//! | route | answer |
//! |-------|--------|
//! | `GET /status` | [`Status`] as JSON |
//! | `GET /metrics` | Prometheus text format 0.0.4 |
//! | `POST /pause`, `POST /resume` | `{"state": …}` |
//! | `POST /seeds` | body `{"urls": [...], "scope": "host", "recrawl_interval": "1h", "recrawl_hops": 1}` (the last two optional) → [`SeedsAdded`] |
//! | `POST /exclusions` | body `{"patterns": [...]}` → `{"added": n}` |
//! | `POST /reload` | `{"reloaded": "…"}`, or 400 `{"error": "…"}` naming the bad key and line |
//!
//! Errors are JSON `{"error": "…"}` with 400 (bad request), 401 (token missing or wrong) or 500.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub mod client;

use crate::config::ScopeKind;
use crate::crawler::{Control, ControlError, SeedsAdded, Status};

#[derive(Clone)]
struct Api {
    control: Control,
    token: Option<String>,
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let code = match self {
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (code, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// Compares without an early exit on the first differing byte.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(State(api): State<Api>, req: Request, next: Next) -> Response {
    if let Some(token) = &api.token {
        // RFC 6750 §2.1: the scheme name is case-insensitive.
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t)
            .unwrap_or("");
        if !same_secret(given.trim().as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({ "error": "a valid bearer token is required (api_token)" })),
            )
                .into_response();
        }
    }
    next.run(req).await
}

async fn status(State(api): State<Api>) -> Result<Json<Status>, ControlError> {
    api.control.status().map(Json)
}

async fn metrics(State(api): State<Api>) -> Result<Response, ControlError> {
    let text = api.control.metrics()?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

async fn pause(State(api): State<Api>) -> Result<Json<serde_json::Value>, ControlError> {
    api.control.pause()?;
    Ok(Json(json!({ "state": "paused" })))
}

async fn resume(State(api): State<Api>) -> Result<Json<serde_json::Value>, ControlError> {
    api.control.resume()?;
    Ok(Json(json!({ "state": "resumed" })))
}

/// `POST /seeds` body.
#[derive(Debug, Deserialize)]
struct SeedsBody {
    urls: Vec<String>,
    /// `host` (default), `domain` or `prefix`.
    #[serde(default)]
    scope: Option<String>,
    /// Recrawl the seeds this often (`"1h"`); absent: crawled once.
    #[serde(default)]
    recrawl_interval: Option<String>,
    /// Hops from the seed re-fetched each round (default 1).
    #[serde(default)]
    recrawl_hops: Option<u32>,
}

/// A JSON body, or a JSON error naming what is wrong with it.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ControlError> {
    b.map(|Json(t)| t).map_err(|e| ControlError::BadRequest(format!("request body: {}", e.body_text())))
}

async fn seeds(
    State(api): State<Api>,
    b: Result<Json<SeedsBody>, JsonRejection>,
) -> Result<Json<SeedsAdded>, ControlError> {
    let body = body(b)?;
    let scope = match body.scope.as_deref() {
        None => ScopeKind::Host,
        Some(s) => ScopeKind::from_name(s)
            .ok_or_else(|| ControlError::BadRequest(format!("scope {s:?}: use \"host\", \"domain\" or \"prefix\"")))?,
    };
    let recrawl = match body.recrawl_interval.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let interval = humantime::parse_duration(s)
                .map_err(|e| ControlError::BadRequest(format!("recrawl_interval {s:?}: {e}; write e.g. \"1h\"")))?;
            if interval < std::time::Duration::from_secs(1) {
                return Err(ControlError::BadRequest(format!("recrawl_interval {s:?}: must be at least 1s")));
            }
            Some(crate::config::Recrawl { interval, hops: body.recrawl_hops.unwrap_or(1) })
        }
    };
    let control = api.control.clone();
    tokio::task::spawn_blocking(move || control.add_seeds(&body.urls, scope, recrawl))
        .await
        .map_err(|e| ControlError::Failed(e.to_string()))?
        .map(Json)
}

/// `POST /exclusions` body.
#[derive(Debug, Deserialize)]
struct ExclusionsBody {
    patterns: Vec<String>,
}

async fn exclusions(
    State(api): State<Api>,
    b: Result<Json<ExclusionsBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let body = body(b)?;
    let control = api.control.clone();
    let added = tokio::task::spawn_blocking(move || control.add_exclusions(&body.patterns))
        .await
        .map_err(|e| ControlError::Failed(e.to_string()))??;
    Ok(Json(json!({ "added": added })))
}

async fn reload(State(api): State<Api>) -> Result<Json<serde_json::Value>, ControlError> {
    let control = api.control.clone();
    let msg = tokio::task::spawn_blocking(move || control.reload())
        .await
        .map_err(|e| ControlError::Failed(e.to_string()))??;
    Ok(Json(json!({ "reloaded": msg })))
}

/// The API's routes over `control`, requiring `token` when given.
pub fn router(control: Control, token: Option<String>) -> Router {
    let api = Api { control, token };
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/pause", post(pause))
        .route("/resume", post(resume))
        .route("/seeds", post(seeds))
        .route("/exclusions", post(exclusions))
        .route("/reload", post(reload))
        .layer(middleware::from_fn_with_state(api.clone(), authorize))
        .with_state(api)
}

/// Connections the API serves at once; more are closed as soon as they are accepted, so holding
/// connections open cannot take the file descriptors the crawl needs.
pub const MAX_API_CONNECTIONS: usize = 32;
/// Time a connection gets to send a request head.
const API_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection stays open.
const API_CONNECTION_MAX: Duration = Duration::from_secs(300);

/// Serves the API on `listener` (bound at start, so a busy address is a start-up error) until the
/// returned task is aborted: at most [`MAX_API_CONNECTIONS`] connections at once, each given
/// 10 s to send its request head and 5 minutes in all. Accept errors (out of file descriptors)
/// are waited out, never fatal.
pub fn serve(
    listener: tokio::net::TcpListener,
    control: Control,
    token: Option<String>,
) -> tokio::task::JoinHandle<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    let app = router(control, token);
    let slots = Arc::new(Semaphore::new(MAX_API_CONNECTIONS));
    tokio::spawn(async move {
        tracing::info!(listen = ?addr, "control API listening");
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::debug!(cause = %e, "control API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                drop(stream); // too many connections: closed at once
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(API_HEAD_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let _ = tokio::time::timeout(API_CONNECTION_MAX, conn).await;
                drop(permit);
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"x"));
    }
}
