//! In-process reference counts for mounted layers.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::id::LayerId;

/// Counts `get`s per layer so that only the first mounts and the last `put` unmounts.
#[derive(Debug, Default)]
pub struct RefCounts {
    counts: Mutex<HashMap<LayerId, u32>>,
}

impl RefCounts {
    /// Adds a reference; returns the new count (1 means "mount now").
    pub fn increment(&self, id: &LayerId) -> u32 {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(id.clone()).or_insert(0);
        *n += 1;
        *n
    }

    /// Drops a reference; returns the remaining count (0 means "unmount now"), or `None` when
    /// there was no reference to drop.
    pub fn decrement(&self, id: &LayerId) -> Option<u32> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.get_mut(id)?;
        *n -= 1;
        let left = *n;
        if left == 0 {
            counts.remove(id);
        }
        Some(left)
    }

    /// The current count.
    pub fn get(&self, id: &LayerId) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(id).copied().unwrap_or(0)
    }

    /// Every layer with a reference, and forgets them all (for `cleanup`).
    pub fn drain(&self) -> Vec<LayerId> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.drain().map(|(id, _)| id).collect()
    }
}
