//! Test-only crash simulation (feature `fault-injection`): the driver stops dead between two
//! steps of a pool transaction, as if the process had been killed there.

/// A point between two steps of a pool transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// The transaction file is written; the pool has not been messaged.
    TransactionOpened,
    /// The pool created (or deleted) the thin device; its metadata file is not written.
    PoolMessaged,
    /// The device's metadata file is written (or removed); the pool transaction id is not set.
    DeviceRecorded,
    /// The pool transaction id is set; nothing after it has run.
    Committed,
}

impl CrashPoint {
    /// Every point, in the order a transaction passes them.
    pub const ALL: [CrashPoint; 4] = [
        CrashPoint::TransactionOpened,
        CrashPoint::PoolMessaged,
        CrashPoint::DeviceRecorded,
        CrashPoint::Committed,
    ];
}
