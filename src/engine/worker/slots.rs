//! A fixed number of connections per worker for open-loop stages (`--connections`): an
//! arrival waits for a free connection, and its latency still counts from its intended
//! time, so queueing inside the generator is measured rather than hidden (wrk2's model).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A counting semaphore for one thread.
pub(crate) struct Slots {
    free: Cell<usize>,
    waiters: RefCell<VecDeque<Waker>>,
}

impl Slots {
    pub(crate) fn new(n: usize) -> Rc<Slots> {
        Rc::new(Slots { free: Cell::new(n), waiters: RefCell::new(VecDeque::new()) })
    }

    /// Waits for a slot; it is returned when the guard drops.
    pub(crate) fn acquire(self: &Rc<Self>) -> Acquire {
        Acquire { slots: self.clone() }
    }

    fn release(&self) {
        self.free.set(self.free.get() + 1);
        if let Some(w) = self.waiters.borrow_mut().pop_front() {
            w.wake();
        }
    }
}

pub(crate) struct Acquire {
    slots: Rc<Slots>,
}

impl Future for Acquire {
    type Output = SlotGuard;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SlotGuard> {
        let free = self.slots.free.get();
        if free > 0 {
            self.slots.free.set(free - 1);
            Poll::Ready(SlotGuard { slots: self.slots.clone() })
        } else {
            self.slots.waiters.borrow_mut().push_back(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Holds a slot until dropped.
pub(crate) struct SlotGuard {
    slots: Rc<Slots>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_get_slots_in_order() {
        let (_, order) = crate::net::cores::block_on(|_| async {
            let slots = Slots::new(1);
            let order = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for i in 0..4 {
                let (slots, order) = (slots.clone(), order.clone());
                tasks.push(monoio::spawn(async move {
                    let _g = slots.acquire().await;
                    order.borrow_mut().push(i);
                    monoio::time::sleep(std::time::Duration::from_millis(2)).await;
                }));
            }
            for t in tasks {
                t.await;
            }
            let v = order.borrow().clone();
            v
        })
        .unwrap();
        assert_eq!(order, vec![0, 1, 2, 3]);
    }
}
