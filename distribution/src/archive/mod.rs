//! Image archives: `save` writes them, `load` reads them.
//!
//! The archive `save` writes is the one Docker 25 writes: an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/...` with uncompressed layers named by their diff ids) plus
//! Docker's `manifest.json`, so `docker load` of any version, skopeo and umoci read it.
//! Layers are reproduced byte for byte from their tar-split records, so digests survive a
//! save/load round trip in either direction. `load` reads that, older `docker save` archives
//! and plain OCI layouts (layers plain, gzip or zstd), checking every digest.

mod load;
mod save;
mod source;

pub use load::{Loaded, load};
pub use save::{Format, save};
pub use source::Source;
