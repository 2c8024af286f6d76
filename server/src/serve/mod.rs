//! `dragoman serve`: the reference server. One HTTP listener carries the JSON API (`/v1`,
//! described at `/openapi.json`), WebSocket signaling into the rtc rooms
//! (`/v1/rooms/{room}/signal`), the web client (`/`), health (`/healthz`, `/readyz`) and
//! Prometheus metrics (`/metrics`). Rooms and transcripts live in SQLite or PostgreSQL.
//!
//! - [`config`]: TOML file, `DRAGOMAN_*` variables, flags.
//! - [`auth`]: API key and secret, JWT join tokens; [`access`]: who is calling.
//! - [`api`]: the handlers; [`error`]: their JSON errors; [`signal`]: WebSocket signaling.
//! - [`rooms`]: the live calls and their transcript recorders; [`db`]: storage.
//! - [`metrics`]; [`web`]: the embedded web client.

pub mod access;
pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod metrics;
pub mod rooms;
pub mod signal;
pub mod web;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dragoman_core::store::ModelStore;
use dragoman_rtc::pipeline::Engines;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;

use self::auth::Credentials;
use self::config::Config;
use self::db::Db;
use self::error::{ApiError, ErrorCode};
use self::metrics::Metrics;
use self::rooms::LiveRooms;

/// What every handler shares.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// API key and secret.
    pub credentials: Credentials,
    /// Storage.
    pub db: Db,
    /// Live calls.
    pub rooms: LiveRooms,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The model store (for `/v1/models`).
    pub store: ModelStore,
    engines: OnceLock<Engines>,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens the database (migrating it) and builds the state; models come later
    /// ([`AppState::set_engines`]), and until then the server is not ready.
    pub async fn new(
        config: Config,
        credentials: Credentials,
        store: ModelStore,
    ) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!("creating the data dir {}: {e}", config.data_dir.display())
        })?;
        let url = config.database_url();
        let db = Db::open(&url)
            .await
            .map_err(|e| anyhow::anyhow!("opening the database {}: {e}", redact(&url)))?;
        let per_minute =
            NonZeroU32::new(config.rate_limit_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Ok(Arc::new(Self {
            credentials,
            db,
            rooms: LiveRooms::default(),
            metrics: Arc::new(Metrics::new()),
            store,
            engines: OnceLock::new(),
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            shutdown: watch::channel(false).0,
            config,
        }))
    }

    /// The loaded models: from now on the server is ready.
    pub fn set_engines(&self, engines: Engines) {
        let _ = self.engines.set(engines);
    }

    /// The models, when loaded.
    pub fn engines(&self) -> Option<&Engines> {
        self.engines.get()
    }

    fn ready_engines(&self) -> Result<&Engines, ApiError> {
        self.engines()
            .ok_or_else(|| ApiError::not_ready("the models are still loading"))
    }

    /// Graceful shutdown: signaling connections are told and closed, every call ends, its
    /// transcript is written, the database is closed.
    pub async fn shut_down(&self) {
        let _ = self.shutdown.send(true);
        self.rooms.end_all().await;
        self.db.close().await;
    }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// The OpenAPI description of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "dragoman", description = "Live speech translation for calls: rooms, join \
        tokens, transcripts, and the catalog of languages, voices and models. Signaling is a \
        WebSocket carrying the room protocol (rtc/src/PROTOCOL.md)."),
    paths(
        api::healthz, api::readyz, api::metrics,
        api::create_room, api::list_rooms, api::get_room, api::delete_room,
        api::issue_token, api::guest_join, api::participants, api::transcript,
        api::languages, api::voices, api::models, signal::signal,
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

/// The whole HTTP service.
pub fn router(state: Arc<AppState>) -> Router {
    // Room and token endpoints are rate limited per client address.
    let rooms = Router::new()
        .route("/v1/rooms", get(api::list_rooms).post(api::create_room))
        .route(
            "/v1/rooms/{room}",
            get(api::get_room).delete(api::delete_room),
        )
        .route("/v1/rooms/{room}/tokens", post(api::issue_token))
        .route("/v1/rooms/{room}/join", post(api::guest_join))
        .route("/v1/rooms/{room}/participants", get(api::participants))
        .route("/v1/rooms/{room}/transcript", get(api::transcript))
        .route("/v1/rooms/{room}/signal", get(signal::signal))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit));
    let mut app = Router::new()
        .merge(rooms)
        .route("/v1/languages", get(api::languages))
        .route("/v1/voices", get(api::voices))
        .route("/v1/models", get(api::models))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(openapi))
        .merge(web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), count_errors));
    if let Some(cors) = cors(&state.config.cors_origins) {
        app = app.layer(cors);
    }
    if state.config.security_headers {
        app = app.layer(middleware::from_fn(security_headers));
    }
    app.with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint (see /openapi.json)")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed here (see /openapi.json)",
    )
}

/// Counts error responses by code.
async fn count_errors(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        state.metrics.error(code);
    }
    response
}

/// At most `rate_limit_per_minute` requests per client address (the peer's address: a
/// proxy in front should do its own limiting).
async fn rate_limit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    match state.limiter.check_key(&ip) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry in {} s", wait.as_secs() + 1),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&(wait.as_secs() + 1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Headers that keep the web client from being framed, sniffed or leaking its URL (which
/// may carry an invite token), and scripts to this origin.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: \
             mediastream:; img-src 'self' data: blob:; object-src 'none'; frame-ancestors 'none'",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(self), microphone=(self)",
        ),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `state.config.listen` and serves.
    pub async fn start(state: Arc<AppState>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(state.config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("listening on {}: {e}", state.config.listen))?;
        let addr = listener.local_addr()?;
        let app = router(state.clone());
        let mut stop = state.shutdown.subscribe();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            })
            .await
        });
        // Forget idle clients' rate-limit state now and then.
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(state) = weak.upgrade() else { return };
                state.limiter.retain_recent();
            }
        });
        Ok(Self { state, addr, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its state.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops: see [`AppState::shut_down`]; then waits for the HTTP connections to finish
    /// (at most 10 s).
    pub async fn shut_down(self) {
        self.state.shut_down().await;
        if tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .is_err()
        {
            tracing::warn!("HTTP connections still open after 10 s; stopping anyway");
        }
    }
}
