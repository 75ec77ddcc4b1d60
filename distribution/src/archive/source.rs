//! The files of an image archive, by name, without trusting its paths.
//!
//! A plain tar in a regular file is indexed in one pass and read in place (no copy). Anything
//! else (a pipe, a compressed archive) is read once, each regular file stored under a
//! numbered name in a private temporary directory, so no archive path ever reaches the
//! filesystem. Symlinks (Docker's legacy archives link duplicate `layer.tar`s) are resolved
//! within the archive's own namespace.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use graph::archive::{Compression, decompress};

/// Where a member's bytes are.
#[derive(Debug)]
enum Member {
    /// In the archive file itself, at this offset.
    InPlace { offset: u64, size: u64 },
    /// Copied out to this file.
    Extracted(PathBuf),
    /// A symlink to another member (a path relative to this one's directory, or absolute
    /// within the archive).
    Link(String),
}

/// An opened image archive.
#[derive(Debug)]
pub struct Source {
    file: Option<PathBuf>,
    members: HashMap<String, Member>,
    /// Removed with the source.
    scratch: Option<crate::owned::Scratch>,
}

/// `./a//b/` -> `a/b`.
fn clean(name: &str) -> String {
    name.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

impl Source {
    /// Indexes the plain tar in the regular file `path`, else copies members out under
    /// a scratch directory under `data_root` (removed by the next start's sweep if this
    /// process is killed).
    pub fn open(path: &Path, data_root: &Path) -> Result<Self> {
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut head = [0u8; 6];
        let n = read_up_to(&mut file, &mut head)?;
        file.seek(SeekFrom::Start(0))?;
        let plain = Compression::detect(&head[..n]).ok() == Some(Compression::None);
        if plain && file.metadata()?.is_file() {
            return Self::index(file, path);
        }
        Self::extract(file, data_root)
    }

    /// Copies the members of the (possibly compressed) tar stream `input` out.
    pub fn extract(input: impl Read, data_root: &Path) -> Result<Self> {
        let scratch = crate::owned::Scratch::new(data_root, "load")?;
        let (_, plain) = decompress(input)?;
        let mut archive = tar::Archive::new(plain);
        let mut members = HashMap::new();
        for (i, entry) in archive.entries().map_err(bad)?.enumerate() {
            let mut entry = entry.map_err(bad)?;
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                t if t.is_file() => {
                    let dest = scratch.path().join(i.to_string());
                    let mut out = File::create(&dest)?;
                    io::copy(&mut entry, &mut out)
                        .map_err(|e| anyhow::anyhow!("invalid archive: member {name}: {e}"))?;
                    members.insert(name, Member::Extracted(dest));
                }
                t if t.is_symlink() || t.is_hard_link() => {
                    members.insert(name, Member::Link(link_target(&entry)));
                }
                _ => {}
            }
        }
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(bad)?;
        Ok(Source {
            file: None,
            members,
            scratch: Some(scratch),
        })
    }

    fn index(file: File, path: &Path) -> Result<Self> {
        Self::index_members(file, path).with_context(|| format!("loading {}", path.display()))
    }

    fn index_members(file: File, path: &Path) -> Result<Self> {
        let mut archive = tar::Archive::new(file);
        let mut members = HashMap::new();
        for entry in archive.entries().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let kind = entry.header().entry_type();
            if kind.is_file() {
                let member = Member::InPlace {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                };
                members.insert(name, member);
            } else if kind.is_symlink() || kind.is_hard_link() {
                members.insert(name, Member::Link(link_target(&entry)));
            }
        }
        let len = std::fs::metadata(path)?.len();
        for m in members.values() {
            if let Member::InPlace { offset, size } = m
                && offset + size > len
            {
                bail!("invalid archive {}: it is truncated", path.display());
            }
        }
        Ok(Source {
            file: Some(path.to_path_buf()),
            members,
            scratch: None,
        })
    }

    /// Whether the archive holds `name` (a file, or a link to one).
    pub fn has(&self, name: &str) -> bool {
        self.resolve(name).is_ok()
    }

    fn resolve(&self, name: &str) -> Result<&Member> {
        let mut name = clean(name);
        for _ in 0..16 {
            match self.members.get(&name) {
                Some(Member::Link(target)) => {
                    let base = if target.starts_with('/') {
                        String::new()
                    } else {
                        name.rsplit_once('/')
                            .map(|(d, _)| d.to_string())
                            .unwrap_or_default()
                    };
                    name = normalize(&format!("{base}/{target}"))
                        .with_context(|| format!("link {name} leaves the archive"))?;
                }
                Some(m) => return Ok(m),
                None => bail!("the archive has no file {name}"),
            }
        }
        bail!("too many links resolving {name} in the archive")
    }

    /// The length of the member `name`.
    pub fn member_size(&self, name: &str) -> Result<u64> {
        match self.resolve(name)? {
            Member::InPlace { size, .. } => Ok(*size),
            Member::Extracted(path) => Ok(std::fs::metadata(path)?.len()),
            Member::Link(_) => bail!("unresolved link {name}"),
        }
    }

    /// Reads the member `name`.
    pub fn open_member(&self, name: &str) -> Result<Box<dyn Read + Send>> {
        match self.resolve(name)? {
            Member::InPlace { offset, size } => {
                let path = self.file.as_ref().context("archive file")?;
                let mut f = File::open(path)?;
                f.seek(SeekFrom::Start(*offset))?;
                Ok(Box::new(f.take(*size)))
            }
            Member::Extracted(path) => Ok(Box::new(File::open(path)?)),
            Member::Link(_) => bail!("unresolved link {name}"),
        }
    }

    /// Reads the whole member `name` (a small JSON document); at most `limit` bytes.
    pub fn read_member(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_member(name)?
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {name} from the archive"))?;
        if bytes.len() as u64 > limit {
            bail!("{name} in the archive is larger than {limit} bytes");
        }
        Ok(bytes)
    }

    /// Removes what the source copied out.
    pub fn close(self) {
        drop(self.scratch);
    }
}

/// Where a link member points: a symlink's target as written (relative to its directory),
/// a hard link's as an archive path (from the top).
fn link_target<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    let target = entry
        .link_name_bytes()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .unwrap_or_default();
    if entry.header().entry_type().is_hard_link() {
        format!("/{target}")
    } else {
        target
    }
}

/// Resolves `.` and `..` in an archive path; None when it climbs above the top.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn bad(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("unexpected EOF") {
        anyhow::anyhow!("invalid archive: it is truncated ({e})")
    } else {
        anyhow::anyhow!("invalid archive: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_archive_only() {
        assert_eq!(normalize("a/../b/./c").as_deref(), Some("b/c"));
        assert_eq!(normalize("../etc/passwd"), None);
        assert_eq!(clean("./blobs//sha256/"), "blobs/sha256");
    }
}
