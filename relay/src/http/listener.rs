//! The accept loop, with the limits a public server needs: at most
//! `max_connections` at once (further clients wait in the kernel's backlog),
//! at most `max_connections_per_ip` from one client address (more are
//! closed at once, so one stranger cannot take every slot), request headers
//! within `header_timeout`, and no read or write on a connection stalled for
//! longer than `idle_timeout` (a slowloris client, a stalled upload or a
//! reader that stopped reading is disconnected). Bodies that trickle in are
//! cut off by the body deadline ([`crate::http::Paced`]). Graceful shutdown
//! lets in-flight requests finish.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{sleep, Sleep};

use crate::config::Limits;

/// `127.0.0.1` or `::1`: the machine itself (other loopback addresses are
/// treated as distinct hosts, as tests use them).
fn is_this_host(ip: IpAddr) -> bool {
    ip == IpAddr::from([127, 0, 0, 1]) || ip == IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
}

/// Connections held per client address.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One connection's claim on its address's count, released on drop.
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn claim(table: &Arc<PerIp>, ip: IpAddr, cap: usize) -> Option<IpSlot> {
        let mut m = table.0.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.table.0.lock() {
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
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
    let per_ip = Arc::new(PerIp::default());
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
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(%e, "accept failed");
                    sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let ip_slot = if !limits.cap_localhost && is_this_host(peer.ip()) {
            None
        } else {
            match PerIp::claim(&per_ip, peer.ip(), limits.max_connections_per_ip.max(1)) {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(ip = %peer.ip(), "connection cap for this address reached");
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Stalling::new(stream, limits.idle_timeout));
        let warp_svc = warp::service(filter.clone());
        let peer_ip = crate::http::Peer(Some(peer.ip()));
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(peer_ip);
                let mut svc = warp_svc.clone();
                tower_service::Service::call(&mut svc, req)
            });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(limits.keep_alive)
            .serve_connection(io, svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%e, "connection ended with an error");
            }
            drop(ip_slot);
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
