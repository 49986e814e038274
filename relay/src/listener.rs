//! The accept loop, with the limits a public server needs: at most
//! `max_connections` at once (further clients wait in the kernel's backlog),
//! request headers within `header_timeout`, and no read or write on a
//! connection stalled for longer than `idle_timeout` (a slowloris client, a
//! stalled upload or a reader that stopped reading is disconnected). Graceful
//! shutdown lets in-flight requests finish.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{sleep, Sleep};

/// Connection limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed for a request's headers to arrive.
    pub header_timeout: Duration,
    /// Longest stall of a read or a write before the connection is closed.
    pub idle_timeout: Duration,
    /// After shutdown starts, how long in-flight requests may take.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `filter` on `listener` within `limits` until `shutdown` resolves.
pub async fn serve<R: warp::Reply + 'static>(
    listener: TcpListener,
    filter: warp::filters::BoxedFilter<(R,)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(%e, "accept failed");
                    sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Stalling::new(stream, limits.idle_timeout));
        let svc = TowerToHyperService::new(warp::service(filter.clone()));
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(io, svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time; closing them");
    }
}

/// A TCP stream whose reads and writes fail with `TimedOut` after stalling
/// for longer than the idle timeout.
struct Stalling {
    inner: TcpStream,
    idle: Duration,
    read_deadline: Option<Pin<Box<Sleep>>>,
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl Stalling {
    fn new(inner: TcpStream, idle: Duration) -> Stalling {
        Stalling {
            inner,
            idle,
            read_deadline: None,
            write_deadline: None,
        }
    }
}

/// Polls `op`; while it is pending, a deadline runs, and firing it is an error.
fn guarded<T>(
    deadline: &mut Option<Pin<Box<Sleep>>>,
    idle: Duration,
    cx: &mut Context<'_>,
    op: Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match op {
        Poll::Ready(r) => {
            *deadline = None;
            Poll::Ready(r)
        }
        Poll::Pending => {
            let d = deadline.get_or_insert_with(|| Box::pin(sleep(idle)));
            match d.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    *deadline = None;
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection stalled",
                    )))
                }
                Poll::Pending => Poll::Pending,
            }
        }
    }
}

impl AsyncRead for Stalling {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let op = Pin::new(&mut this.inner).poll_read(cx, buf);
        guarded(&mut this.read_deadline, this.idle, cx, op)
    }
}

impl AsyncWrite for Stalling {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let op = Pin::new(&mut this.inner).poll_write(cx, buf);
        guarded(&mut this.write_deadline, this.idle, cx, op)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let op = Pin::new(&mut this.inner).poll_flush(cx);
        guarded(&mut this.write_deadline, this.idle, cx, op)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
