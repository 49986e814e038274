//! Health: `/healthz` (the process answers) and `/readyz` (every backend it
//! needs answers: `{"status", "checks": {name: state}}`, `503` when one does
//! not). A check's state is a word (`ok`, `degraded`, `unreachable`); why a
//! backend failed goes to the log, never into the answer (it may name hosts,
//! paths or a database URL).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use warp::http::StatusCode;
use warp::Filter;

/// What one check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Reachable.
    Ok,
    /// Reachable in part (some of several SRS processes): still ready.
    Degraded,
    /// Not reachable: the process is not ready.
    Unreachable,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Degraded => "degraded",
            State::Unreachable => "unreachable",
        }
    }
}

/// A boxed check.
pub type CheckFuture = Pin<Box<dyn Future<Output = State> + Send>>;
type Check = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// A check still pending after this long is `unreachable`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The backends a process depends on, by name.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|(n, _)| n))
            .finish()
    }
}

impl Readiness {
    /// Adds a check named `name`.
    pub fn add(
        &mut self,
        name: &'static str,
        check: impl Fn() -> CheckFuture + Send + Sync + 'static,
    ) {
        self.checks.push((name, Arc::new(check)));
    }

    /// A check from a fallible probe: `ok`, or `unreachable` (its error logged).
    pub fn probe<F, E>(
        name: &'static str,
        f: impl Fn() -> F + Send + Sync + 'static,
    ) -> impl Fn() -> CheckFuture + Send + Sync + 'static
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        move || {
            let probe = f();
            Box::pin(async move {
                match probe.await {
                    Ok(()) => State::Ok,
                    Err(e) => {
                        tracing::warn!(check = name, %e, "readiness check failed");
                        State::Unreachable
                    }
                }
            })
        }
    }

    /// Runs every check at once: ready, and the JSON answer.
    pub async fn run(&self) -> (bool, serde_json::Value) {
        let runs = self.checks.iter().map(|(name, check)| {
            let f = check();
            async move {
                let state = tokio::time::timeout(CHECK_TIMEOUT, f)
                    .await
                    .unwrap_or_else(|_| {
                        tracing::warn!(check = name, "readiness check timed out");
                        State::Unreachable
                    });
                (*name, state)
            }
        });
        let results = futures_util::future::join_all(runs).await;
        let ready = results.iter().all(|(_, s)| *s != State::Unreachable);
        let checks: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(n, s)| ((*n).to_string(), s.word().into()))
            .collect();
        (
            ready,
            serde_json::json!({
                "status": if ready { "ok" } else { "unavailable" },
                "checks": checks,
            }),
        )
    }

    /// `GET /healthz` and `GET /readyz`.
    pub fn routes(
        self,
    ) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
        let healthz = warp::path("healthz")
            .and(warp::path::end())
            .and(warp::get())
            .map(|| crate::http::json(StatusCode::OK, &serde_json::json!({ "status": "ok" })));
        let me = Arc::new(self);
        let readyz = warp::path("readyz")
            .and(warp::path::end())
            .and(warp::get())
            .then(move || {
                let me = me.clone();
                async move {
                    let (ready, body) = me.run().await;
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    crate::http::json(status, &body)
                }
            });
        healthz.or(readyz).unify()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_unreachable_backend_makes_the_process_unready() {
        let mut r = Readiness::default();
        r.add("a", || Box::pin(async { State::Ok }));
        r.add("b", || Box::pin(async { State::Degraded }));
        let (ready, body) = r.run().await;
        assert!(ready);
        assert_eq!(body["checks"]["b"], "degraded");
        r.add(
            "c",
            Readiness::probe("c", || async { Err::<(), _>("secret://host/db refused") }),
        );
        let (ready, body) = r.run().await;
        assert!(!ready);
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["checks"]["c"], "unreachable");
        assert!(
            !body.to_string().contains("secret"),
            "no error text in the answer"
        );
    }
}
