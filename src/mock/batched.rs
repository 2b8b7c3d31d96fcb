//! The capacity model on a core: requests take a `Ticket` in the process's one `Batch`, and a
//! reply waits on it for each token. Tasks cannot be woken across monoio threads, so each
//! core runs one ticker task (only while it has waiters): it sleeps until the batch's step
//! ends, advances the batch, and wakes this core's replies whose tokens are out. One timer
//! wake per core per step, one task wake per token — as without the model.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::batch::{Batch, SeqId};

/// The process's scheduler, shared by every core.
pub(crate) type Shared = Arc<Mutex<Batch>>;

/// One core's view of the batch.
pub(crate) struct Local {
    batch: Shared,
    /// Replies on this core waiting for a token: (sequence, token count, waker).
    waiters: RefCell<Vec<(SeqId, u64, Waker)>>,
    /// The ticker, when parked for want of waiters.
    ticker: RefCell<Option<Waker>>,
    ticker_started: Cell<bool>,
}

/// A request's place in the batch; leaving (drop) frees its slot.
pub(crate) struct Ticket {
    local: Rc<Local>,
    id: SeqId,
    /// Tokens a non-streaming reply waits for before it is sent.
    pub until: u64,
}

impl Local {
    pub(crate) fn new(batch: Shared) -> Rc<Local> {
        Rc::new(Local {
            batch,
            waiters: RefCell::new(Vec::new()),
            ticker: RefCell::new(None),
            ticker_started: Cell::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Batch> {
        // A panic while holding the lock leaves a consistent-enough state for a mock.
        self.batch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a request (`prefill` uncached prompt tokens, `decode` to generate); `None` when
    /// the queue is full.
    pub(crate) fn submit(self: &Rc<Self>, prefill: u64, decode: u64) -> Option<Ticket> {
        let id = self.lock().submit(Instant::now(), prefill, decode)?;
        if !self.ticker_started.replace(true) {
            monoio::spawn(ticker(self.clone()));
        }
        Some(Ticket { local: self.clone(), id, until: decode })
    }

    /// The batch's figures for `/metrics`.
    pub(crate) fn render(&self, out: &mut String) {
        let mut b = self.lock();
        b.advance(Instant::now());
        b.render(out);
    }
}

impl Ticket {
    /// When this request's token `k` (from 1) was produced, if it has been.
    pub(crate) fn produced(&self, k: u64) -> Option<Instant> {
        let mut b = self.local.lock();
        b.advance(Instant::now());
        b.token_time(self.id, k)
    }

    /// Waits until token `k` has been produced; returns when it was.
    pub(crate) async fn wait(&self, k: u64) -> Instant {
        poll_fn(|cx| match self.produced(k) {
            Some(at) => Poll::Ready(at),
            None => {
                let mut waiters = self.local.waiters.borrow_mut();
                match waiters.iter_mut().find(|w| w.0 == self.id) {
                    Some(w) => (w.1, w.2) = (k, cx.waker().clone()),
                    None => waiters.push((self.id, k, cx.waker().clone())),
                }
                if let Some(t) = self.local.ticker.borrow_mut().take() {
                    t.wake();
                }
                Poll::Pending
            }
        })
        .await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.local.lock().remove(self.id);
        self.local.waiters.borrow_mut().retain(|w| w.0 != self.id);
    }
}

/// Wakes this core's waiters as the batch's steps end.
async fn ticker(local: Rc<Local>) {
    loop {
        let next = {
            let mut b = local.lock();
            b.advance(Instant::now());
            let mut waiters = local.waiters.borrow_mut();
            // A waiter whose sequence is idle or gone is woken too (it re-checks).
            let idle = b.step_end().is_none();
            waiters.retain(|(id, k, waker)| {
                let ready = idle || b.token_time(*id, *k).is_some();
                if ready {
                    waker.wake_by_ref();
                }
                !ready
            });
            b.step_end().filter(|_| !waiters.is_empty())
        };
        match next {
            Some(t) => crate::net::timer::sleep_until(t).await,
            None => Park { local: &local, parked: false }.await,
        }
    }
}

/// Parks the ticker until a waiter registers.
struct Park<'a> {
    local: &'a Local,
    parked: bool,
}

impl Future for Park<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.parked {
            return Poll::Ready(());
        }
        self.parked = true;
        *self.local.ticker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}
