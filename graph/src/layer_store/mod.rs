//! The content-addressed layer store (written next).

/// Placeholder until the store lands.
#[derive(Debug)]
pub struct LayerStore;
