//! `engine build`: images from a Dockerfile, one layer per instruction that changes the
//! filesystem, as Docker's classic builder makes them.
//!
//! - [`parser`] splits the Dockerfile into instructions (directives, continuations, comments,
//!   heredocs); [`expand`] does Docker's word processing (quotes, escapes, `$VAR` forms) when
//!   an instruction runs.
//! - [`builder`] walks the instructions stage by stage. Configuration-only instructions
//!   ([`instructions`]) make a new image config with a history entry marked `empty_layer`.
//!   RUN, COPY, ADD (and a WORKDIR that must create its directory) work in a [`sandbox`]: a
//!   writable layer on the current image, committed as a new layer through the layer store,
//!   then removed (also on failure).
//! - Every step's image is kept (untagged) and recorded in the [`cache`] under a key of the
//!   parent image, the instruction after expansion and, for COPY/ADD, a digest of the copied
//!   content ([`context`]), so an unchanged rebuild reuses every step.
//! - The [`context`] is a directory read file by file with [`dockerignore`] applied, or a tar
//!   from standard input unpacked to a temporary directory; [`copy`] writes into a rootfs.
//! - Messages and RUN output go to an [`output`]: the terminal, or the API daemon's stream.

pub(crate) mod builder;
pub mod cache;
pub mod context;
mod context_tar;
pub mod copy;
pub(crate) mod dockerignore;
pub(crate) mod expand;
pub(crate) mod instructions;
pub mod limits;
pub mod output;
pub(crate) mod parser;
pub mod request;
pub(crate) mod sandbox;

pub use builder::{Builder, Options};
pub use context::BuildContext;
pub use output::Output;
pub use sandbox::Interrupt;
