//! Per-layer serialisation: one mount, unmount or removal of a layer at a time, while
//! operations on different layers run in parallel.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex};

use graph::LayerId;

/// A set of held layer locks.
#[derive(Debug, Default)]
pub struct IdLocks {
    held: Mutex<HashSet<LayerId>>,
    released: Condvar,
}

/// Holds the lock on one layer until dropped.
#[derive(Debug)]
pub struct IdGuard<'a> {
    locks: &'a IdLocks,
    id: LayerId,
}

impl IdLocks {
    /// Waits until no one else holds `id`, then holds it.
    pub fn lock(&self, id: &LayerId) -> IdGuard<'_> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(id) {
            held = self.released.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.insert(id.clone());
        IdGuard {
            locks: self,
            id: id.clone(),
        }
    }
}

impl Drop for IdGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.id);
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn one_holder_per_id() {
        let locks = Arc::new(IdLocks::default());
        let inside = Arc::new(AtomicU32::new(0));
        let id = LayerId::new("a").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (locks, inside, id) = (locks.clone(), inside.clone(), id.clone());
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let _g = locks.lock(&id);
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // A different id is not blocked by a held one.
        let _a = locks.lock(&id);
        let _b = locks.lock(&LayerId::new("b").unwrap());
    }
}
