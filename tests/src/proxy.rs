//! A loopback TCP proxy between a function and the emulator that a test can take down and
//! bring back on the same port: "the AWS endpoint goes away and comes back".
//!
//! Restarting the emulator itself would lose the organization (moto keeps its state in
//! memory), so the outage is simulated here instead. While the proxy is down every connection
//! that was open is reset (RST, through a zero linger), so calls in flight fail as they would
//! against a crashed endpoint, and each new connection is answered with a reset before any
//! byte is read (counted by `refused`, so that a test can assert the outage hit a call; a
//! closed port would refuse the connection unseen). `resume` forwards to the same, unchanged
//! emulator again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// One proxy; stopped on drop.
pub struct TcpProxy {
    /// Where clients connect (a fixed port for the proxy's whole life).
    pub addr: SocketAddr,
    upstream: SocketAddr,
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The accept loop, while up.
    acceptor: Mutex<Option<JoinHandle<()>>>,
    /// Live connections: (client side, upstream side) forwarding tasks.
    conns: Mutex<Vec<Conn>>,
    accepted: AtomicU64,
    reset: AtomicU64,
    /// New connections answered with a reset while down.
    refused: AtomicU64,
    /// Down: between `stop` and `resume`.
    down: std::sync::atomic::AtomicBool,
}

struct Conn {
    task: JoinHandle<()>,
    client: Arc<std::sync::Mutex<Option<std::net::TcpStream>>>,
}

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

impl TcpProxy {
    /// Starts forwarding a free loopback port to `upstream` (`http://127.0.0.1:PORT` or
    /// `127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let hostport = upstream.trim_start_matches("http://").trim_end_matches('/');
        let upstream: SocketAddr = hostport.parse().expect("upstream is IP:PORT");
        let listener = listen("127.0.0.1:0".parse().unwrap()).expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = Self {
            addr,
            upstream,
            inner: Arc::default(),
        };
        proxy.spawn_acceptor(listener);
        proxy
    }

    /// The endpoint URL to give the SDK instead of the emulator's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// Connections reset by `stop` so far.
    pub fn reset_count(&self) -> u64 {
        self.inner.reset.load(Ordering::Relaxed)
    }

    /// Connections made while the proxy was down (each answered with a reset): a call the
    /// outage hit.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    pub fn is_up(&self) -> bool {
        !self.inner.down.load(Ordering::SeqCst)
    }

    fn spawn_acceptor(&self, listener: tokio::net::TcpListener) {
        let inner = self.inner.clone();
        let upstream = self.upstream;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // Decided under the connections' lock, which `stop` holds while it resets
                // them: no connection slips through into the outage.
                let mut conns = inner.conns.lock().unwrap();
                if inner.down.load(Ordering::SeqCst) {
                    inner.refused.fetch_add(1, Ordering::Relaxed);
                    if let Ok(s) = client.into_std() {
                        let _ = socket_zero_linger(&s);
                    }
                    continue;
                }
                inner.accepted.fetch_add(1, Ordering::Relaxed);
                let _ = client.set_nodelay(true);
                // Keep a std handle to the client socket so that `stop` can reset it.
                let std_client = match client.into_std() {
                    Ok(s) => s,
                    Err(_) => continue,
                };
                let handle = match std_client.try_clone() {
                    Ok(h) => h,
                    Err(_) => continue,
                };
                let Ok(client) = TcpStream::from_std(std_client) else {
                    continue;
                };
                let slot = Arc::new(std::sync::Mutex::new(Some(handle)));
                let task = tokio::spawn(forward(client, upstream));
                conns.retain(|c| !c.task.is_finished());
                conns.push(Conn { task, client: slot });
            }
        });
        *self.inner.acceptor.lock().unwrap() = Some(task);
    }

    /// The endpoint goes away: every open connection is reset, and new ones are answered with
    /// a reset until `resume`.
    pub fn stop(&self) {
        let conns: Vec<Conn> = {
            let mut conns = self.inner.conns.lock().unwrap();
            self.inner.down.store(true, Ordering::SeqCst);
            std::mem::take(&mut *conns)
        };
        for c in conns {
            if let Some(s) = c.client.lock().unwrap().take() {
                // A zero linger turns the close into a RST, as a crashed server's kernel
                // would send for a socket whose process is gone.
                let _ = socket_zero_linger(&s);
            }
            c.task.abort();
            self.inner.reset.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The endpoint comes back on the same port.
    pub async fn resume(&self) {
        let _conns = self.inner.conns.lock().unwrap();
        self.inner.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(t) = self.inner.acceptor.lock().unwrap().take() {
            t.abort();
        }
        self.stop();
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

fn socket_zero_linger(s: &std::net::TcpStream) -> std::io::Result<()> {
    // SO_LINGER {on, 0} set through a duplicate of the descriptor: the option belongs to the
    // socket, so the forwarding task's own descriptor closes with a RST too.
    TcpSocket::from_std_stream(s.try_clone()?).set_zero_linger()
}
