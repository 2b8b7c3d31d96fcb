//! The mock LLM upstream: SDK-exact OpenAI and Anthropic wire formats, realistic TTFT /
//! inter-token pacing on absolute deadlines, and injected faults, served thread-per-core so
//! it is never the bottleneck of the gateway under test.
//!
//! Layout: `config` (flags + JSON, validated) → `conn` (keep-alive HTTP/1.1 server loop) →
//! `routes` → `handlers` (shared checks) → `openai` / `responses` / `anthropic` (bodies and
//! stream events) → `pacing` (deadline-paced stream sender); `metrics` for `/metrics`.
//! With `--capacity`, `batch` (one continuous-batching scheduler for the process) and
//! `batched` (each core's tickets and ticker) decide when tokens are out instead.

pub(crate) mod agentic;
pub(crate) mod anthropic;
pub(crate) mod batch;
pub(crate) mod batched;
pub(crate) mod cache;
pub(crate) mod capacity;
pub(crate) mod config;
pub(crate) mod conn;
pub(crate) mod counted;
pub(crate) mod dispatch;
pub(crate) mod dist;
pub(crate) mod faults;
pub(crate) mod head;
pub(crate) mod idle;
pub(crate) mod json;
pub(crate) mod kit;
pub(crate) mod metrics;
pub(crate) mod openai;
pub(crate) mod pacing;
pub(crate) mod ratelimit;
pub(crate) mod request;
pub(crate) mod responses;
pub(crate) mod routes;
pub(crate) mod scan;
pub(crate) mod text;
pub(crate) mod tools;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use self::config::Settings;
use self::metrics::{CoreCounters, Metrics};
use crate::net::cores::{spawn_pinned, Driver, Worker};
use crate::net::socket::reuseport_listeners;

/// Per-core state, shared by that core's connections only (`Rc`, never across threads).
pub(crate) struct Core {
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub index: usize,
    pub rng: RefCell<SmallRng>,
    pub idle: Rc<idle::Idle>,
    /// The process's prefix cache, when on (one lock for every core).
    pub cache: Option<Arc<std::sync::Mutex<cache::PrefixCache>>>,
    /// This core's view of the process's batch scheduler, when the capacity model is on.
    pub batch: Option<Rc<batched::Local>>,
    /// `--rate-limit` windows and per-key counts (None: neither).
    pub limiter: Option<Arc<ratelimit::Limiter>>,
    next_id: Cell<u64>,
    id_salt: u64,
}

/// A request id like `req_<24 hex>`, built without allocation.
pub(crate) struct RequestId {
    buf: [u8; 28],
}

impl RequestId {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf).expect("ascii")
    }
}

impl Core {
    fn new(
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
        cache: Option<Arc<std::sync::Mutex<cache::PrefixCache>>>,
        batch: Option<batched::Shared>,
        limiter: Option<Arc<ratelimit::Limiter>>,
        index: usize,
    ) -> Core {
        let mut rng =
            SmallRng::seed_from_u64(settings.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Ids must differ between mock processes (several may sit behind one gateway), so
        // they are salted with the clock and pid, not only the reproducible seed.
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let id_salt =
            rng.gen::<u64>() ^ clock.rotate_left(23) ^ u64::from(std::process::id()).rotate_left(47);
        let idle = idle::Idle::new(settings.idle_timeout);
        let batch = batch.map(batched::Local::new);
        Core {
            settings,
            metrics,
            index,
            rng: RefCell::new(rng),
            idle,
            cache,
            batch,
            limiter,
            next_id: Cell::new(0),
            id_salt,
        }
    }

    /// This core's counters.
    pub(crate) fn counters(&self) -> &CoreCounters {
        self.metrics.of_core(self.index)
    }

    /// A fresh request id, unique across cores and runs of the process.
    pub(crate) fn request_id(&self) -> RequestId {
        let n = self.next_id.get();
        self.next_id.set(n + 1);
        let mut buf = *b"req_000000000000000000000000";
        let hex = b"0123456789abcdef";
        let hi = self.id_salt ^ (self.index as u64) << 56;
        for i in 0..16 {
            buf[4 + i] = hex[((hi >> (60 - 4 * i)) & 15) as usize];
        }
        for i in 0..8 {
            buf[20 + i] = hex[((n >> (28 - 4 * i)) & 15) as usize];
        }
        RequestId { buf }
    }
}

/// A running mock: where it listens, and how to stop it.
pub(crate) struct Server {
    pub addr: SocketAddr,
    pub driver: Driver,
    stop: Arc<AtomicBool>,
    threads: Vec<Worker<()>>,
}

impl Server {
    /// Asks every core to stop accepting and waits for them (open streams are abandoned).
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        // Each accept loop sees the flag when it accepts a connection. SO_REUSEPORT hashes
        // each new connection to one core, so keep connecting (new source ports) until every
        // core has exited; a core that does not within 2 s is left to the process exit.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.threads.iter().any(|t| !t.is_finished()) && std::time::Instant::now() < deadline {
            let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
            std::thread::sleep(Duration::from_millis(1));
        }
        for t in self.threads {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }

    /// Blocks until every core exits (they run until the process ends).
    pub(crate) fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts the mock on `cores` and returns once every core listens.
pub(crate) fn start(settings: Settings, cores: &[usize]) -> io::Result<Server> {
    let listeners = reuseport_listeners(settings.listen, cores.len())?;
    let addr = listeners[0].local_addr()?;
    // The vocabulary loads in a moment: before serving, not in the first request.
    if let Some(t) = settings.tokenizer {
        t.warm();
    }
    let prefix_cache = settings.prefix_cache.map(|(blocks, block_tokens)| {
        Arc::new(std::sync::Mutex::new(cache::PrefixCache::new(blocks, block_tokens)))
    });
    // One scheduler for the whole process: the capacity is the configured one whatever the
    // number of cores and wherever connections land.
    let batch: Option<batched::Shared> =
        settings.capacity.clone().map(|c| Arc::new(std::sync::Mutex::new(batch::Batch::new(c))));
    let limiter = ratelimit::Limiter::new(&settings.rate_limits, settings.key_metrics).map(Arc::new);
    let settings = Arc::new(settings);
    let metrics = Arc::new(Metrics::new(cores.len()));
    let stop = Arc::new(AtomicBool::new(false));
    let slots: Arc<std::sync::Mutex<Vec<Option<std::net::TcpListener>>>> =
        Arc::new(std::sync::Mutex::new(listeners.into_iter().map(Some).collect()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Driver>();
    let threads = {
        let (settings, metrics, stop) = (settings.clone(), metrics.clone(), stop.clone());
        let prefix_cache = prefix_cache.clone();
        let batch = batch.clone();
        let limiter = limiter.clone();
        spawn_pinned("mock", cores, move |index, driver| {
            let listener =
                slots.lock().expect("listener slots")[index].take().expect("one listener per core");
            let core = Rc::new(Core::new(
                settings.clone(),
                metrics.clone(),
                prefix_cache.clone(),
                batch.clone(),
                limiter.clone(),
                index,
            ));
            let (stop, ready) = (stop.clone(), ready_tx.clone());
            async move {
                let listener = match monoio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("llmload mock: core {index}: cannot register the listener: {e}");
                        return;
                    }
                };
                let _ = ready.send(driver);
                accept_loop(listener, core, stop).await;
            }
        })?
    };
    let mut driver = Driver::Epoll;
    for _ in cores {
        driver = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| io::Error::other("a mock core failed to start"))?;
    }
    Ok(Server { addr, driver, stop, threads })
}

async fn accept_loop(listener: monoio::net::TcpListener, core: Rc<Core>, stop: Arc<AtomicBool>) {
    monoio::spawn(core.idle.clone().run());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let _ = stream.set_nodelay(true);
                let fd = stream.as_raw_fd();
                match &core.settings.tls {
                    None => {
                        monoio::spawn(conn::serve_connection(stream, fd, core.clone()));
                    }
                    Some(config) => {
                        let acceptor = monoio_rustls::TlsAcceptor::from(config.clone());
                        let core = core.clone();
                        monoio::spawn(async move {
                            // A failed handshake just closes the connection.
                            if let Ok(tls) = acceptor.accept(stream).await {
                                conn::serve_connection(tls, fd, core).await;
                            }
                        });
                    }
                }
            }
            Err(e) => {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                // Out of fds (EMFILE/ENFILE): back off instead of spinning; others are transient.
                if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}
