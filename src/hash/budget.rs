//! Hashing threads for the whole process. Every check of every shard takes its
//! threads from one pool of tokens, as many as the machine has cores, so ten
//! torrents checked at once use as many hashing threads, and as much memory
//! (each thread holds the pieces it is hashing), as one.

use std::sync::OnceLock;

/// A pool of thread tokens: a channel holding one `()` per free thread. Bounded
/// by the pool's size, and never full when a token comes back (each was taken
/// from it first).
#[derive(Debug)]
struct Pool {
    tx: flume::Sender<()>,
    rx: flume::Receiver<()>,
}

impl Pool {
    fn new(n: usize) -> Pool {
        let (tx, rx) = flume::bounded(n.max(1));
        for _ in 0..n.max(1) {
            tx.try_send(()).expect("room for every token");
        }
        Pool { tx, rx }
    }

    /// Waits until at least one thread is free, then takes up to `want`.
    async fn take(&'static self, want: usize) -> Threads {
        if self.rx.recv_async().await.is_err() {
            // The pool holds its own sender: never closed.
            return Threads { n: 0, pool: self };
        }
        let mut n = 1;
        while n < want.max(1) && self.rx.try_recv().is_ok() {
            n += 1;
        }
        Threads { n, pool: self }
    }
}

/// Hashing threads taken from the pool; they go back when this is dropped.
#[derive(Debug)]
pub struct Threads {
    n: usize,
    pool: &'static Pool,
}

impl Threads {
    /// How many threads to hash on.
    pub fn count(&self) -> usize {
        self.n
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        for _ in 0..self.n {
            if self.pool.tx.try_send(()).is_err() {
                // Cannot happen (a token is only given back once taken); a lost
                // token would only make later checks use fewer threads.
                tracing::error!("a hashing thread token found the pool full");
            }
        }
    }
}

/// Waits until at least one of the process's hashing threads is free, then
/// takes up to `want` of them.
pub async fn take(want: usize) -> Threads {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(super::default_threads()))
        .take(want)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_shared_and_given_back() {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(3)));
        let rt = compio::runtime::Runtime::new().unwrap();
        let first = rt.block_on(pool.take(8));
        assert_eq!(first.count(), 3, "no more than the pool holds");
        assert!(pool.rx.is_empty(), "the next taker waits");
        drop(first);
        let one = rt.block_on(pool.take(1));
        assert_eq!(one.count(), 1);
        let rest = rt.block_on(pool.take(3));
        assert_eq!(rest.count(), 2);
        // A taker waits while none is free, and goes on when one comes back.
        let waiting = rt.block_on(async {
            let wait = compio::runtime::spawn(pool.take(2));
            compio::time::sleep(std::time::Duration::from_millis(20)).await;
            drop(one);
            wait.await
        });
        assert_eq!(waiting.unwrap().count(), 1);
    }
}
