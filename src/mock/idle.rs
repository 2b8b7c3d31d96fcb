//! The keep-alive idle timeout without a timer per read: a connection waiting for its next
//! request only notes the current tick; one task per core advances the tick every eighth of
//! the timeout and shuts down (`shutdown(2)`, so the pending read ends as at EOF) the sockets
//! that have waited longer. A connection idles out between `idle_timeout` and 9/8 of it.
//! Partial heads and bodies keep their precise per-read timeouts (they answer 408).

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Ticks per timeout: the reaper's granularity.
const TICKS: u32 = 8;

/// One core's idle watch.
pub(crate) struct Idle {
    tick: Cell<u32>,
    period: Duration,
    conns: RefCell<Vec<Weak<Watch>>>,
}

/// One connection's entry.
pub(crate) struct Watch {
    fd: RawFd,
    /// The tick its current wait began, when it waits for a request.
    waiting_since: Cell<Option<u32>>,
}

impl Idle {
    pub(crate) fn new(timeout: Duration) -> Rc<Idle> {
        let period = (timeout / TICKS).max(Duration::from_millis(1));
        Rc::new(Idle { tick: Cell::new(0), period, conns: RefCell::new(Vec::new()) })
    }

    /// Watches a connection's socket (until the returned entry is dropped).
    pub(crate) fn watch(&self, fd: RawFd) -> Rc<Watch> {
        let watch = Rc::new(Watch { fd, waiting_since: Cell::new(None) });
        let mut conns = self.conns.borrow_mut();
        // Closed connections are dropped before the list would grow.
        if conns.len() == conns.capacity() {
            conns.retain(|w| w.strong_count() > 0);
        }
        conns.push(Rc::downgrade(&watch));
        watch
    }

    /// The connection starts waiting for a request.
    pub(crate) fn waiting(&self, watch: &Watch) {
        watch.waiting_since.set(Some(self.tick.get()));
    }

    /// Advances the tick and closes connections idle for more than the timeout. Runs for the
    /// core's lifetime.
    pub(crate) async fn run(self: Rc<Self>) {
        loop {
            monoio::time::sleep(self.period).await;
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            self.conns.borrow_mut().retain(|w| {
                let Some(watch) = w.upgrade() else { return false };
                // Waiting since tick t, seen at tick t + TICKS + 1: at least TICKS whole periods.
                if watch.waiting_since.get().is_some_and(|t| tick.wrapping_sub(t) > TICKS) {
                    watch.waiting_since.set(None);
                    let _ = nix::sys::socket::shutdown(watch.fd, nix::sys::socket::Shutdown::Both);
                }
                true
            });
        }
    }
}

impl Watch {
    /// The wait is over (bytes arrived, or the connection is closing).
    pub(crate) fn busy(&self) {
        self.waiting_since.set(None);
    }
}
