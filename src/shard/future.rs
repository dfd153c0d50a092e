//! Small future helpers every layer above the runtime uses: [`LocalFuture`] (a boxed `!Send`
//! future) and [`race`] (the first of two futures). They live here, at the bottom of the
//! async stack, so the listeners (net/, metrics/) share them without naming each other.
//!
//! Runs on whichever shard polls the future; nothing here is shared between threads.
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;

/// A `!Send` boxed future that runs on one shard.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Which of two futures finished first.
#[derive(Debug)]
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both futures and returns the first output; the other is dropped (or, when passed as
/// `Pin<&mut F>`, kept by the caller to poll again). Left is polled first.
pub async fn race<A: Future, B: Future>(left: A, right: B) -> Either<A::Output, B::Output> {
    let mut left = pin!(left);
    let mut right = pin!(right);
    poll_fn(|context| {
        if let Poll::Ready(output) = left.as_mut().poll(context) {
            return Poll::Ready(Either::Left(output));
        }
        if let Poll::Ready(output) = right.as_mut().poll(context) {
            return Poll::Ready(Either::Right(output));
        }
        Poll::Pending
    })
    .await
}
