//! Open loop's idle keep-alive connections, and a cap on connections being opened at once.
//!
//! Without the cap, arrivals that find no idle connection each open one; when they come
//! faster than connections can be set up (set-up costs more than a request), the worker
//! falls behind, still more arrivals find no idle connection, and the run tips into a
//! connection storm (10,000 connections, drops, send lag of 0.3 s at 30k/s on one core).
//! With it, an arrival waits for whichever comes first: a connection coming back idle, or a
//! free place among the `MAX_CONNECTING` connects in progress. Its latency still counts from
//! its intended time, so the wait is measured, never hidden.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::http::conn::Conn;

/// Connects in progress per worker before arrivals wait for one to finish (or for an idle
/// connection). Loopback connects take ~0.1 ms, so 32 allow ~300k connects/s; a 20 ms
/// round trip still allows 1,600/s per worker.
pub(super) const MAX_CONNECTING: usize = 32;

/// Idle connections per target, connects in progress, and arrivals waiting.
pub(crate) struct Pool<S> {
    idle: RefCell<Vec<Vec<Conn<S>>>>,
    connecting: Cell<usize>,
    waiters: RefCell<Vec<VecDeque<Waker>>>,
}

impl<S> Pool<S> {
    pub(crate) fn new(targets: usize) -> Pool<S> {
        Pool {
            idle: RefCell::new((0..targets).map(|_| Vec::new()).collect()),
            connecting: Cell::new(0),
            waiters: RefCell::new((0..targets).map(|_| VecDeque::new()).collect()),
        }
    }

    /// An idle connection to `target`, or None when the caller may open one (a connect
    /// place is free); waits for either until `deadline` or until `stopped()` turns true
    /// (checked when woken: see `wake_all`). Err: the wait ended without a connection.
    pub(crate) async fn take(
        &self,
        target: usize,
        deadline: Instant,
        stopped: impl Fn() -> bool,
    ) -> Result<Option<Conn<S>>, ()> {
        // The common case answers at once, without arming a timer.
        if let Some(c) = self.idle.borrow_mut()[target].pop() {
            return Ok(Some(c));
        }
        if self.connecting.get() < MAX_CONNECTING {
            return Ok(None);
        }
        let wait = poll_fn(|cx| {
            if stopped() {
                return Poll::Ready(Err(()));
            }
            if let Some(c) = self.idle.borrow_mut()[target].pop() {
                return Poll::Ready(Ok(Some(c)));
            }
            if self.connecting.get() < MAX_CONNECTING {
                return Poll::Ready(Ok(None));
            }
            self.waiters.borrow_mut()[target].push_back(cx.waker().clone());
            Poll::Pending
        });
        monoio::time::timeout_at(deadline.into(), wait).await.unwrap_or(Err(()))
    }

    /// Gives a connection back and wakes one arrival waiting for `target`.
    pub(crate) fn put(&self, target: usize, conn: Conn<S>) {
        self.idle.borrow_mut()[target].push(conn);
        if let Some(w) = self.waiters.borrow_mut()[target].pop_front() {
            w.wake();
        }
    }

    /// Marks a connect in progress until the guard drops; then one waiter of each target is
    /// woken (the freed place serves any target).
    pub(crate) fn connecting(&self) -> ConnectGuard<'_, S> {
        self.connecting.set(self.connecting.get() + 1);
        ConnectGuard { pool: self }
    }

    /// Drops every idle connection and forgets waiters (between stages, when no task runs:
    /// a waiter that timed out at a stage's end leaves its waker behind).
    pub(crate) fn clear(&self) {
        self.idle.borrow_mut().iter_mut().for_each(Vec::clear);
        self.waiters.borrow_mut().iter_mut().for_each(VecDeque::clear);
    }

    /// Wakes every waiting arrival (on an interrupt: they see `stopped` and give up, counted
    /// as cancelled).
    pub(crate) fn wake_all(&self) {
        for queue in self.waiters.borrow_mut().iter_mut() {
            queue.drain(..).for_each(Waker::wake);
        }
    }

    /// Forgets waiters only (between stages), keeping idle connections for the next stage.
    pub(crate) fn forget_waiters(&self) {
        self.waiters.borrow_mut().iter_mut().for_each(VecDeque::clear);
    }
}

/// A connect in progress.
pub(crate) struct ConnectGuard<'a, S> {
    pool: &'a Pool<S>,
}

impl<S> Drop for ConnectGuard<'_, S> {
    fn drop(&mut self) {
        self.pool.connecting.set(self.pool.connecting.get() - 1);
        for queue in self.pool.waiters.borrow_mut().iter_mut() {
            if let Some(w) = queue.pop_front() {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Duration;

    fn conn(id: u64) -> Conn<u64> {
        Conn { stream: id, buf: Vec::new(), served: 0 }
    }

    #[test]
    fn arrivals_wait_for_a_connection_or_a_connect_place() {
        let (_, ()) = crate::net::cores::block_on(|_| async {
            let pool = Rc::new(Pool::<u64>::new(1));
            let far = Instant::now() + Duration::from_secs(10);
            // Nothing idle and places free: open one.
            assert!(matches!(pool.take(0, far, || false).await, Ok(None)));
            // Every place taken: an arrival waits, and gets the connection that comes back.
            let guards: Vec<_> = (0..MAX_CONNECTING).map(|_| pool.connecting()).collect();
            let waiter = {
                let pool = pool.clone();
                monoio::spawn(async move { pool.take(0, far, || false).await.map(|c| c.map(|c| c.stream)) })
            };
            monoio::time::sleep(Duration::from_millis(5)).await;
            pool.put(0, conn(7));
            assert_eq!(waiter.await, Ok(Some(7)));
            // Or a place that frees up.
            let waiter = {
                let pool = pool.clone();
                monoio::spawn(async move { pool.take(0, far, || false).await.map(|c| c.is_none()) })
            };
            monoio::time::sleep(Duration::from_millis(5)).await;
            drop(guards);
            assert_eq!(waiter.await, Ok(true));
            // The deadline ends a wait; so does an interrupt.
            let _guards: Vec<_> = (0..MAX_CONNECTING).map(|_| pool.connecting()).collect();
            let soon = Instant::now() + Duration::from_millis(5);
            assert!(pool.take(0, soon, || false).await.is_err());
            let stop = Rc::new(Cell::new(false));
            let waiter = {
                let (pool, stop) = (pool.clone(), stop.clone());
                monoio::spawn(async move { pool.take(0, far, move || stop.get()).await.is_err() })
            };
            monoio::time::sleep(Duration::from_millis(5)).await;
            stop.set(true);
            pool.wake_all();
            assert!(waiter.await);
        })
        .unwrap();
    }
}
