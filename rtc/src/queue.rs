//! The bounded queue of the media path: when the consumer falls behind, the OLDEST item is
//! dropped (and counted), so latency stays bounded and the newest audio is what gets processed.
//! A crossbeam channel whose sender also holds a receiver, to pop the oldest when full.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

/// The sending side.
#[derive(Debug, Clone)]
pub struct DropOldestSender<T> {
    tx: Sender<T>,
    /// Used only to make room.
    oldest: Receiver<T>,
    dropped: Arc<AtomicU64>,
    /// Cleared when the receiving side is dropped (the sender's own receiver would otherwise
    /// keep the channel open).
    open: Arc<AtomicBool>,
}

/// The receiving side.
#[derive(Debug)]
pub struct DropOldestReceiver<T> {
    rx: Receiver<T>,
    open: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl<T> Drop for DropOldestReceiver<T> {
    fn drop(&mut self) {
        self.open.store(false, Ordering::Release);
    }
}

/// A queue holding at most `capacity` items (at least 1).
pub fn drop_oldest<T>(capacity: usize) -> (DropOldestSender<T>, DropOldestReceiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let open = Arc::new(AtomicBool::new(true));
    let dropped = Arc::new(AtomicU64::new(0));
    (
        DropOldestSender {
            tx,
            oldest: rx.clone(),
            dropped: dropped.clone(),
            open: open.clone(),
        },
        DropOldestReceiver { rx, open, dropped },
    )
}

/// The drop count of a queue, readable without holding either side.
#[derive(Debug, Clone)]
pub struct Drops(Arc<AtomicU64>);

impl Drops {
    /// Items dropped so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The receiving side is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the queue's receiver is gone")]
pub struct Disconnected;

impl<T> DropOldestSender<T> {
    /// Queues `item`, dropping the oldest queued items while the queue is full.
    pub fn push(&self, mut item: T) -> Result<(), Disconnected> {
        if !self.open.load(Ordering::Acquire) {
            return Err(Disconnected);
        }
        loop {
            match self.tx.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(Disconnected),
                Err(TrySendError::Full(back)) => {
                    item = back;
                    if self.oldest.try_recv().is_ok() {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Items dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A reading of the drop count that does not keep the queue open (a sender would).
    pub fn drops(&self) -> Drops {
        Drops(self.dropped.clone())
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }
}

impl<T> DropOldestReceiver<T> {
    /// The next item, waiting up to `timeout`. `Ok(None)`: nothing came in time.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<T>, Disconnected> {
        match self.rx.recv_timeout(timeout) {
            Ok(item) => Ok(Some(item)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Disconnected),
        }
    }

    /// The next item if one is waiting.
    pub fn try_recv(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Items the sender dropped so far (so the consumer can tell whoever needs to know).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts() {
        let (tx, rx) = drop_oldest(3);
        for i in 0..5 {
            tx.push(i).unwrap();
        }
        assert_eq!(tx.dropped(), 2);
        assert_eq!(rx.dropped(), 2);
        let got: Vec<i32> = std::iter::from_fn(|| rx.try_recv()).collect();
        assert_eq!(got, [2, 3, 4]);
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Ok(None));
        // The count outlives the sender.
        let drops = tx.drops();
        drop(tx);
        assert_eq!(drops.get(), 2);
    }

    #[test]
    fn either_side_sees_the_other_go() {
        let (tx, rx) = drop_oldest::<u8>(1);
        drop(rx);
        assert_eq!(tx.push(1), Err(Disconnected));
        let (tx, rx) = drop_oldest::<u8>(1);
        drop(tx);
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(Disconnected));
    }
}
