//! Idle keep-alive connections (open loop), and the one cap on connections being opened at
//! once that both loops share.
//!
//! Without the cap, arrivals that find no idle connection each open one; when they come
//! faster than connections can be set up (set-up costs more than a request), the worker
//! falls behind, still more arrivals find no idle connection, and the run tips into a
//! connection storm (10,000 connections, drops, send lag of 0.3 s at 30k/s on one core).
//! With it, an arrival waits for whichever comes first: a connection coming back idle, or a
//! free place among the `MAX_CONNECTING` connects in progress. Its latency still counts from
//! its intended time, so the wait is measured, never hidden. Closed-loop users that need a
//! connection wait for a place the same way ([`Pool::place`]) before their request starts, so
//! a stage that starts thousands of users opens their connections a few dozen at a time
//! instead of in one SYN burst.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::http::conn::Conn;

/// Connects in progress per worker before arrivals wait for one to finish (or for an idle
/// connection). Loopback connects take ~0.1 ms, so 32 allow ~300k connects/s; a 20 ms
/// round trip still allows 1,600/s per worker.
pub(super) const MAX_CONNECTING: usize = 32;

/// One waiting task's entry: its waker while it waits to be woken; `None` once woken or
/// once the wait ended otherwise (timed out, stopped), so waking skips it and no wake is
/// ever spent on a task that no longer waits.
type Entry = Rc<Cell<Option<Waker>>>;

/// Idle connections per target, connects in progress, and tasks waiting.
pub(crate) struct Pool<S> {
    idle: RefCell<Vec<Vec<Conn<S>>>>,
    connecting: Cell<usize>,
    /// The most connects in progress at once (for the generator-health figures).
    connecting_peak: Cell<usize>,
    waiters: RefCell<Vec<VecDeque<Entry>>>,
}

impl<S> Pool<S> {
    pub(crate) fn new(targets: usize) -> Pool<S> {
        Pool {
            idle: RefCell::new((0..targets).map(|_| Vec::new()).collect()),
            connecting: Cell::new(0),
            connecting_peak: Cell::new(0),
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
        let wait = self.wait(target, || {
            if stopped() {
                return Some(Err(()));
            }
            if let Some(c) = self.idle.borrow_mut()[target].pop() {
                return Some(Ok(Some(c)));
            }
            (self.connecting.get() < MAX_CONNECTING).then_some(Ok(None))
        });
        monoio::time::timeout_at(deadline.into(), wait).await.unwrap_or(Err(()))
    }

    /// Waits for a free connect place (closed loop: a user about to open its connection), or
    /// until `stopped()` turns true (Err). The place is not held: the caller opens its
    /// connection before it next yields, so no other task can take the place first.
    pub(crate) async fn place(&self, target: usize, stopped: impl Fn() -> bool) -> Result<(), ()> {
        if self.connecting.get() < MAX_CONNECTING {
            return Ok(());
        }
        self.wait(target, || {
            if stopped() {
                return Some(Err(()));
            }
            (self.connecting.get() < MAX_CONNECTING).then_some(Ok(()))
        })
        .await
    }

    /// Waits in `target`'s queue until `ready` gives an answer (asked on every wake).
    async fn wait<T>(&self, target: usize, mut ready: impl FnMut() -> Option<T>) -> T {
        let entry: Entry = Rc::new(Cell::new(None));
        let _gone = Gone(&entry);
        poll_fn(|cx| {
            if let Some(v) = ready() {
                return Poll::Ready(v);
            }
            // Still queued (not woken yet): refresh the waker. Woken, or new: queue (again).
            let queued = entry.take().is_some();
            entry.set(Some(cx.waker().clone()));
            if !queued {
                self.waiters.borrow_mut()[target].push_back(entry.clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Gives a connection back and wakes one task waiting for `target`.
    pub(crate) fn put(&self, target: usize, conn: Conn<S>) {
        self.idle.borrow_mut()[target].push(conn);
        self.wake_one(target);
    }

    /// Wakes the first task of `target`'s queue that still waits.
    fn wake_one(&self, target: usize) {
        let waker = {
            let mut queue = self.waiters.borrow_mut();
            let queue = &mut queue[target];
            loop {
                match queue.pop_front() {
                    Some(e) => match e.take() {
                        Some(w) => break Some(w),
                        None => continue,
                    },
                    None => break None,
                }
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Marks a connect in progress until the guard drops; then one waiter of each target is
    /// woken (the freed place serves any target).
    pub(crate) fn connecting(&self) -> ConnectGuard<'_, S> {
        let n = self.connecting.get() + 1;
        self.connecting.set(n);
        self.connecting_peak.set(self.connecting_peak.get().max(n));
        ConnectGuard { pool: self }
    }

    /// The most connects in progress at once since the last call (which resets it).
    pub(crate) fn take_connecting_peak(&self) -> usize {
        self.connecting_peak.replace(self.connecting.get())
    }

    /// Drops every idle connection and forgets waiters (at the end of a run).
    pub(crate) fn clear(&self) {
        self.idle.borrow_mut().iter_mut().for_each(Vec::clear);
        self.waiters.borrow_mut().iter_mut().for_each(VecDeque::clear);
    }

    /// Wakes every waiting task (on an interrupt: they see `stopped` and give up, counted
    /// as cancelled).
    pub(crate) fn wake_all(&self) {
        let wakers: Vec<Waker> =
            self.waiters.borrow_mut().iter_mut().flat_map(|q| q.drain(..)).filter_map(|e| e.take()).collect();
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Marks a wait's entry as no longer waiting when the wait ends, however it ends.
struct Gone<'a>(&'a Entry);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

/// A connect in progress.
pub(crate) struct ConnectGuard<'a, S> {
    pool: &'a Pool<S>,
}

impl<S> Drop for ConnectGuard<'_, S> {
    fn drop(&mut self) {
        self.pool.connecting.set(self.pool.connecting.get() - 1);
        let targets = self.pool.waiters.borrow().len();
        for target in 0..targets {
            self.pool.wake_one(target);
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

    #[test]
    fn closed_loop_users_wait_for_a_connect_place_and_no_wake_is_lost() {
        let (_, ()) = crate::net::cores::block_on(|_| async {
            let pool = Rc::new(Pool::<u64>::new(1));
            // A place is free: no wait.
            assert_eq!(pool.place(0, || false).await, Ok(()));
            let guards: Vec<_> = (0..MAX_CONNECTING).map(|_| pool.connecting()).collect();
            assert_eq!(pool.take_connecting_peak(), MAX_CONNECTING);
            // A wait that timed out leaves an entry in the queue ahead of a user waiting for a
            // place: the freed place must go to the user, not to the gone waiter.
            let soon = Instant::now() + Duration::from_millis(2);
            assert!(pool.take(0, soon, || false).await.is_err());
            let user = {
                let pool = pool.clone();
                monoio::spawn(async move { pool.place(0, || false).await })
            };
            monoio::time::sleep(Duration::from_millis(5)).await;
            let mut guards = guards;
            guards.pop();
            let waited = monoio::time::timeout(Duration::from_secs(10), user).await;
            assert_eq!(waited.ok(), Some(Ok(())));
            drop(guards);
            assert_eq!(pool.connecting.get(), 0);
        })
        .unwrap();
    }
}
