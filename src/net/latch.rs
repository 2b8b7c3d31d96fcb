//! A one-shot broadcast for the tasks of one thread: once fired it stays fired, and every
//! future guarded by it ends at once (dropped, so a read or connect in flight is cancelled).
//!
//! The engine uses two per worker on an interrupt: one that stops new work (think-time and
//! schedule sleeps end) and one that cancels the requests still in flight after the grace,
//! so each of them ends with a recorded outcome instead of being abandoned uncounted.
//! A guarded future costs one waker slot while it is pending (a free-listed slab: no
//! allocation once warm), taken on its first pending poll and given back when it ends.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::task::{Poll, Waker};

/// The latch fired before the guarded future finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fired;

/// A one-shot, single-thread broadcast.
#[derive(Default)]
pub(crate) struct Latch {
    fired: Cell<bool>,
    slots: RefCell<Slots>,
}

#[derive(Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Latch {
    pub(crate) fn new() -> Latch {
        Latch::default()
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// Fires the latch: every guarded future ends with `Err(Fired)` (idempotent).
    pub(crate) fn fire(&self) {
        if self.fired.replace(true) {
            return;
        }
        let wakers: Vec<Waker> = self.slots.borrow_mut().wakers.iter_mut().filter_map(Option::take).collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Runs `fut` unless the latch fires first (checked before every poll of `fut`).
    pub(crate) async fn guard<F: Future>(&self, fut: F) -> Result<F::Output, Fired> {
        let mut fut = std::pin::pin!(fut);
        let mut slot = Slot { latch: self, index: None };
        poll_fn(|cx| {
            if self.fired.get() {
                return Poll::Ready(Err(Fired));
            }
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            slot.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Waits until the latch fires.
    pub(crate) async fn wait(&self) {
        let _ = self.guard(std::future::pending::<()>()).await;
    }

    /// Sleeps until `deadline` (on the precise timer) unless the latch fires first.
    pub(crate) async fn sleep_until(&self, deadline: std::time::Instant) -> Result<(), Fired> {
        self.guard(crate::net::timer::sleep_until(deadline)).await
    }
}

/// A guarded future's waker slot, given back when it drops.
struct Slot<'a> {
    latch: &'a Latch,
    index: Option<usize>,
}

impl Slot<'_> {
    fn register(&mut self, waker: &Waker) {
        let mut slots = self.latch.slots.borrow_mut();
        match self.index {
            Some(i) => match &mut slots.wakers[i] {
                Some(w) if w.will_wake(waker) => {}
                w => *w = Some(waker.clone()),
            },
            None => {
                let i = match slots.free.pop() {
                    Some(i) => {
                        slots.wakers[i] = Some(waker.clone());
                        i
                    }
                    None => {
                        slots.wakers.push(Some(waker.clone()));
                        slots.wakers.len() - 1
                    }
                };
                self.index = Some(i);
            }
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.index {
            let mut slots = self.latch.slots.borrow_mut();
            slots.wakers[i] = None;
            slots.free.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    #[test]
    fn firing_ends_every_guarded_future_and_slots_are_reused() {
        let (_, ()) = crate::net::cores::block_on(|_| async {
            let latch = Rc::new(Latch::new());
            // A future that finishes first is not affected.
            assert_eq!(latch.guard(async { 7 }).await, Ok(7));
            let far = Instant::now() + Duration::from_secs(30);
            let sleepers: Vec<_> = (0..3)
                .map(|_| {
                    let latch = latch.clone();
                    monoio::spawn(async move { latch.sleep_until(far).await })
                })
                .collect();
            monoio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(latch.slots.borrow().wakers.iter().flatten().count(), 3);
            let started = Instant::now();
            latch.fire();
            for s in sleepers {
                assert_eq!(s.await, Err(Fired));
            }
            assert!(started.elapsed() < Duration::from_secs(5));
            // Every slot was given back; a fired latch refuses at once.
            let given_back = {
                let slots = latch.slots.borrow();
                (slots.wakers.iter().flatten().count(), slots.free.len())
            };
            assert_eq!(given_back, (0, 3));
            assert_eq!(latch.guard(async { 1 }).await, Err(Fired));
        })
        .unwrap();
    }
}
