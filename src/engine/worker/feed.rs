//! The records of one trace session still to come, handed from the dispatcher to the
//! conversation replaying them. The dispatcher closes a feed when no record can follow (the
//! session's last one was handed over, or the replay ended), so a conversation waits for its
//! next record exactly as long as one may come — not until a clock that the dispatcher,
//! woken late, may already have passed.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::data::trace::Record;

/// A record handed over: when it was due, the record, and how many of the session's records
/// are left from it on (its own included) — the length of a conversation it would start.
pub(crate) type Handed = (Instant, Record, u32);

pub(crate) struct Feed {
    queue: RefCell<VecDeque<Handed>>,
    waker: Cell<Option<Waker>>,
    closed: Cell<bool>,
    /// The length of the conversation the records go to (it changes when a failed turn
    /// starts the rest of the session over).
    turns: Cell<u32>,
    /// Seeds the conversation that a failed turn starts over with.
    seed: Cell<u64>,
    pub(crate) block_tokens: u32,
}

impl Feed {
    pub(crate) fn new(turns: u32, seed: u64, block_tokens: u32) -> Feed {
        Feed {
            queue: RefCell::default(),
            waker: Cell::new(None),
            closed: Cell::new(false),
            turns: Cell::new(turns),
            seed: Cell::new(seed),
            block_tokens,
        }
    }

    pub(crate) fn push(&self, handed: Handed) {
        self.queue.borrow_mut().push_back(handed);
        self.wake();
    }

    /// No record follows the ones pushed so far.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        self.wake();
    }

    fn wake(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn turns(&self) -> u32 {
        self.turns.get()
    }

    /// The next record, or `None` once the feed is closed and empty.
    pub(crate) async fn next(&self) -> Option<Handed> {
        poll_fn(|cx| {
            if let Some(x) = self.queue.borrow_mut().pop_front() {
                return Poll::Ready(Some(x));
            }
            if self.closed.get() {
                return Poll::Ready(None);
            }
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    /// A record already handed over, if any (no wait).
    pub(crate) fn ready(&self) -> Option<Handed> {
        self.queue.borrow_mut().pop_front()
    }

    /// Starts the rest of the session over from a record: its conversation is now `turns`
    /// long, seeded anew. Returns the seed.
    pub(crate) fn restart(&self, turns: u32) -> u64 {
        self.turns.set(turns);
        let seed = self.seed.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.seed.set(seed);
        seed
    }

    /// The records handed over but never sent (the conversation ended before them).
    pub(crate) fn take_left(&self) -> Vec<Instant> {
        self.queue.borrow_mut().drain(..).map(|(due, ..)| due).collect()
    }
}
