//! Layer tarballs: apply them to a directory, write them from one, with whiteouts.
//!
//! A layer tar holds the files a layer adds or changes; deletions are whiteouts in the
//! AUFS/OCI convention: an empty file `.wh.NAME` deletes `NAME`, and `DIR/.wh..wh..opq` makes
//! `DIR` opaque (hides everything the lower layers had in it). How a whiteout becomes real on
//! disk depends on the driver ([`WhiteoutFormat`]).
//!
//! [`apply_layer`] is hardened: every path is resolved inside the layer root
//! (`openat2(RESOLVE_IN_ROOT)`), so `..`, absolute names, symlinked parents and link targets can
//! never create, write or follow anything outside it. It streams: one entry at a time.

mod apply;
mod compression;
mod digest_reader;
mod dir_listing;
mod entry_meta;
mod entry_path;
mod entry_size;
mod export;
mod pax_escape;
mod remove;
mod safe_root;
mod sparse;
pub mod tar_split;
mod tar_writer;
mod whiteout;
mod xattrs;

use std::io::{Read, Write};
use std::path::Path;

pub use compression::{Compression, decompress};
pub use digest_reader::{DigestReader, DigestWriter};

use crate::driver::Change;
use crate::error::Result;

/// How whiteouts are represented on disk in a layer directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutFormat {
    /// The layer holds a full tree (vfs, devicemapper): applying `.wh.NAME` deletes `NAME`,
    /// an opaque marker empties the directory of what lower layers put there.
    Delete,
    /// overlayfs upper directory: a deleted `NAME` is a character device 0/0 named `NAME`, an
    /// opaque directory carries the xattr `trusted.overlay.opaque=y`.
    Overlay,
}

/// Options for [`apply_layer`].
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// How whiteout entries become real.
    pub whiteouts: WhiteoutFormat,
}

/// Extracts the uncompressed layer tar `tar` into `root`, which must exist.
///
/// Returns the bytes of regular-file content written (hard links count nothing).
/// Any entry that would reach outside `root` is an [`crate::Error::BadArchive`], as is a
/// malformed, truncated or corrupt stream. Absolute names are taken relative to `root`, and a
/// symlink met on the way is resolved as if `root` were `/`. Ownership, modes (with
/// setuid/setgid/sticky), mtimes (directories' last) and xattrs on every entry type are
/// applied; `trusted.overlay.*` xattrs in an archive are ignored (only whiteouts make them).
/// The input is read to its end, so a compressed stream's trailer is checked too.
pub fn apply_layer(root: &Path, tar: &mut dyn Read, opts: &ApplyOptions) -> Result<u64> {
    apply::apply_layer(root, tar, opts)
}

/// Writes the whole tree under `root` as an uncompressed tar, sorted by path, with
/// ownership, modes, mtimes, xattrs, hard links, symlinks, devices and FIFOs.
/// With [`WhiteoutFormat::Overlay`], overlay whiteouts in `root` become `.wh.` entries.
pub fn export_tree(root: &Path, out: &mut dyn Write, whiteouts: WhiteoutFormat) -> Result<()> {
    export::export_tree(root, out, whiteouts)
}

/// Writes the `changes` of the tree under `root` as an uncompressed tar: added and modified
/// paths with their content, deleted ones as `.wh.` whiteouts.
pub fn export_changes(root: &Path, changes: &[Change], out: &mut dyn Write) -> Result<()> {
    export::export_changes(root, changes, out)
}
