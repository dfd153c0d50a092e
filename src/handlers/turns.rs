//! `Turns`: per-connection tickets that keep pipelined requests in arrival order through a
//! step that may have to wait.
//!
//! Produce needs it: its appends must reach each partition's log in the order the requests
//! arrived on the connection (a client with several requests in flight relies on that, and
//! idempotent producers check sequence numbers). Handlers start in request order, and a
//! request whose topics all exist hands its appends to the owning shards before its first
//! `.await`, which keeps that order by itself. A request that first auto-creates a topic
//! awaits the creation; a later request could then overtake it. So each Produce takes a
//! ticket when it starts (synchronously, hence in arrival order) and waits for its turn just
//! before handing off its appends; its turn passes to the next ticket when the ticket drops.
//! When nothing ahead is waiting the turn is already there and no `.await` suspends.
//!
//! Runs on the connection's shard; `!Send` (plain `Cell`s, one task per request).
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// The ticket counter of one connection. Tickets are handed out by [`Turns::ticket`].
#[derive(Debug, Default)]
pub struct Turns {
    /// The next ticket to hand out.
    issued: Cell<u64>,
    /// The ticket whose turn it is; every lower ticket has been dropped.
    serving: Cell<u64>,
    /// Tasks waiting for their turn (at most the connection's in-flight requests).
    waiting: RefCell<Vec<Waker>>,
    /// Tickets dropped before their turn came (a later request that ended early).
    done: RefCell<Vec<u64>>,
}

/// One request's place in line. Dropping it (whatever the handler's outcome) passes the turn.
#[derive(Debug)]
pub struct Ticket {
    turns: Rc<Turns>,
    number: u64,
}

impl Turns {
    /// The next ticket, in the order of calls.
    #[must_use]
    pub fn ticket(self: &Rc<Self>) -> Ticket {
        let number = self.issued.get();
        self.issued.set(number + 1);
        Ticket {
            turns: Rc::clone(self),
            number,
        }
    }
}

impl Ticket {
    /// Resolves when every earlier ticket has been dropped; at once if they all have.
    pub async fn turn(&self) {
        poll_fn(|context| {
            if self.turns.serving.get() == self.number {
                Poll::Ready(())
            } else {
                self.turns
                    .waiting
                    .borrow_mut()
                    .push(context.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // Tickets may drop out of order (a later request fails early): the turn advances past
        // every dropped ticket, so it only waits for ones still held.
        let turns = &self.turns;
        let mut done = turns.done.borrow_mut();
        done.push(self.number);
        let mut serving = turns.serving.get();
        // Bounded by the tickets outstanding (≤ the connection's in-flight cap).
        while let Some(position) = done.iter().position(|number| *number == serving) {
            done.swap_remove(position);
            serving += 1;
        }
        turns.serving.set(serving);
        drop(done);
        for waker in turns.waiting.borrow_mut().drain(..) {
            waker.wake();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use std::time::Duration;

    #[compio::test]
    async fn turns_follow_ticket_order_whoever_is_ready_first() {
        let turns = Rc::new(Turns::default());
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        // Ticket 0 is slowest to get ready, ticket 2 fastest; each records when it has its
        // turn.
        for (number, delay_ms) in [(0u64, 30u64), (1, 10), (2, 0)] {
            let ticket = turns.ticket();
            let order = Rc::clone(&order);
            tasks.push(compio::runtime::spawn(async move {
                compio::time::sleep(Duration::from_millis(delay_ms)).await;
                ticket.turn().await;
                order.borrow_mut().push(number);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.borrow(), vec![0, 1, 2]);
    }

    #[compio::test]
    async fn a_ticket_dropped_early_does_not_block_the_line() {
        let turns = Rc::new(Turns::default());
        let first = turns.ticket();
        let second = turns.ticket();
        let third = turns.ticket();
        // The second request fails before its turn: its ticket drops out of order.
        drop(second);
        assert_eq!(turns.serving.get(), 0);
        drop(first);
        // Turn passes over the dropped second ticket straight to the third.
        assert_eq!(turns.serving.get(), 2);
        third.turn().await;
        drop(third);
        assert_eq!(turns.serving.get(), 3);
        // With nothing ahead, a new ticket's turn is immediate.
        turns.ticket().turn().await;
    }
}
