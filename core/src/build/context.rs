//! The build context: a directory on disk (or a tar from standard input unpacked into a
//! temporary one), read file by file as COPY and ADD need it, never loaded whole; with the
//! `.dockerignore` patterns applied. Also the source side of `COPY --from`, a stage's mounted
//! root filesystem.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest as _, Sha256};

use super::dockerignore::{self, Ignore};

/// Where COPY/ADD read from.
#[derive(Debug)]
pub struct SourceRoot {
    /// The directory.
    pub root: PathBuf,
    /// Patterns of excluded paths (none for a stage's rootfs).
    pub ignore: Ignore,
    /// A rootfs: paths are absolute in it and symlinks resolve inside it.
    pub is_rootfs: bool,
}

/// The build context.
#[derive(Debug)]
pub struct BuildContext {
    /// Its files.
    pub source: SourceRoot,
    /// Keeps an unpacked standard-input context alive.
    _temp: Option<distribution::owned::Scratch>,
}

/// One source of a COPY/ADD, found.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path relative to the source root, `/`-separated (`""` for the root itself).
    pub rel: String,
    /// Where it is on the host.
    pub path: PathBuf,
}

impl BuildContext {
    /// A context directory.
    pub fn dir(path: &Path) -> Result<BuildContext> {
        let meta = fs::metadata(path)
            .with_context(|| format!("unable to prepare context: path {:?} not found", path))?;
        if !meta.is_dir() {
            bail!(
                "unable to prepare context: context must be a directory: {}",
                path.display()
            );
        }
        let root = fs::canonicalize(path)
            .with_context(|| format!("resolving the context {}", path.display()))?;
        Ok(BuildContext {
            source: SourceRoot {
                ignore: read_ignore(&root)?,
                root,
                is_rootfs: false,
            },
            _temp: None,
        })
    }

    /// A tar stream (plain or compressed), unpacked into a temporary directory; `source`
    /// names the stream in messages ("standard input", "the request body").
    /// The directory is scratch under `data_root`, swept at the next start if the builder
    /// is killed.
    pub fn tar(input: impl Read, data_root: &Path, source: &str) -> Result<BuildContext> {
        let temp = distribution::owned::Scratch::new(data_root, "build-context")
            .context("creating a directory for the context")?;
        let (_, plain) = graph::archive::decompress(input)
            .with_context(|| format!("reading the context tar from {source}"))?;
        super::context_tar::unpack(plain, temp.path(), source)?;
        let root = temp.path().to_path_buf();
        Ok(BuildContext {
            source: SourceRoot {
                ignore: read_ignore(&root)?,
                root,
                is_rootfs: false,
            },
            _temp: Some(temp),
        })
    }

    /// An empty context (a Dockerfile given alone on standard input).
    pub fn empty(data_root: &Path) -> Result<BuildContext> {
        let temp = distribution::owned::Scratch::new(data_root, "build-context")
            .context("creating an empty context")?;
        Ok(BuildContext {
            source: SourceRoot {
                root: temp.path().to_path_buf(),
                ignore: Ignore::default(),
                is_rootfs: false,
            },
            _temp: Some(temp),
        })
    }
}

fn read_ignore(root: &Path) -> Result<Ignore> {
    // A symlink in an uploaded context resolves inside it, never to a host file.
    let path = runtime::secure_join(root, Path::new(".dockerignore"))?;
    match fs::read_to_string(path) {
        Ok(text) => Ok(Ignore::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ignore::default()),
        Err(e) => Err(e).context("reading .dockerignore"),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl SourceRoot {
    /// The sources named by `pattern` (a path or a wildcard), as `instr` (COPY/ADD) reports.
    pub fn resolve(&self, pattern: &str, instr: &str) -> Result<Vec<Source>> {
        let cleaned = self.clean(pattern, instr)?;
        if has_wildcard(&cleaned) {
            let mut found = Vec::new();
            let parts: Vec<&str> = if cleaned.is_empty() {
                vec![]
            } else {
                cleaned.split('/').collect()
            };
            self.glob("", &parts, &mut found)?;
            found.sort_by(|a, b| a.rel.cmp(&b.rel));
            return Ok(found);
        }
        let path = self.host_path(&cleaned)?;
        let missing = || {
            if self.is_rootfs {
                anyhow!("{instr} failed: stat /{cleaned}: no such file or directory")
            } else {
                anyhow!(
                    "{instr} failed: file not found in build context or excluded by .dockerignore: stat {cleaned}: no such file or directory"
                )
            }
        };
        if !cleaned.is_empty() && self.ignore.excludes(&cleaned) {
            return Err(missing());
        }
        if fs::symlink_metadata(&path).is_err() {
            return Err(missing());
        }
        Ok(vec![Source { rel: cleaned, path }])
    }

    /// The pattern as a clean relative path; `..` out of the context is refused.
    fn clean(&self, pattern: &str, instr: &str) -> Result<String> {
        let mut depth: i32 = 0;
        for c in pattern.split('/') {
            match c {
                "" | "." => {}
                ".." => depth -= 1,
                _ => depth += 1,
            }
            if depth < 0 && !self.is_rootfs {
                bail!("{instr} failed: forbidden path outside the build context: {pattern} ()");
            }
        }
        Ok(dockerignore::clean(pattern))
    }

    /// The Dockerfile a client named inside the context (`POST /build?dockerfile=`, or `-f`
    /// with a tar on standard input): as Docker's daemon resolves it, `..` climbing out of the
    /// context is refused, and an absolute path or a symlink resolves inside the context, so
    /// no name reads a host file.
    pub fn dockerfile_path(&self, name: &str) -> Result<PathBuf> {
        let mut depth: i32 = 0;
        for c in name.split('/') {
            match c {
                "" | "." => {}
                ".." => depth -= 1,
                _ => depth += 1,
            }
            if depth < 0 {
                bail!("Forbidden path outside the build context: {name} ()");
            }
        }
        self.host_path(&dockerignore::clean(name))
    }

    /// Resolves a clean relative path on the host, symlinks kept inside the root.
    fn host_path(&self, rel: &str) -> Result<PathBuf> {
        if rel.is_empty() {
            return Ok(self.root.clone());
        }
        Ok(runtime::secure_join(&self.root, Path::new(rel))?)
    }

    fn glob(&self, prefix: &str, parts: &[&str], found: &mut Vec<Source>) -> Result<()> {
        let Some((first, rest)) = parts.split_first() else {
            return Ok(());
        };
        let dir = self.host_path(prefix)?;
        let join = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            }
        };
        if !has_wildcard(first) {
            let rel = join(first);
            if fs::symlink_metadata(dir.join(first)).is_err() {
                return Ok(());
            }
            if rest.is_empty() {
                if !self.ignore.excludes(&rel) {
                    found.push(Source {
                        path: self.host_path(&rel)?,
                        rel,
                    });
                }
                return Ok(());
            }
            return self.glob(&rel, rest, found);
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(());
        };
        let glob: Vec<char> = first.chars().collect();
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !dockerignore::matches(&glob, &name) {
                continue;
            }
            let rel = join(&name);
            if rest.is_empty() {
                if !self.ignore.excludes(&rel) {
                    found.push(Source {
                        path: self.host_path(&rel)?,
                        rel,
                    });
                }
            } else {
                self.glob(&rel, rest, found)?;
            }
        }
        Ok(())
    }

    /// Whether `rel` is left out of a copy.
    pub fn skips(&self, rel: &str) -> bool {
        !rel.is_empty() && self.ignore.excludes(rel)
    }

    /// A directory under `rel` that is excluded can be skipped whole (no exception inside).
    pub fn skips_dir(&self, rel: &str) -> bool {
        self.skips(rel) && !self.ignore.has_exceptions()
    }

    /// Digest of the sources' names, modes, link targets and bytes, streamed from disk: what
    /// the build cache keys a COPY/ADD on.
    pub fn digest(&self, sources: &[Source]) -> Result<String> {
        let mut h = Sha256::new();
        for s in sources {
            self.hash_tree(&s.rel, &s.path, "", &mut h)?;
        }
        Ok(hex::encode(h.finalize()))
    }

    fn hash_tree(&self, rel: &str, path: &Path, name: &str, h: &mut Sha256) -> Result<()> {
        let meta =
            fs::symlink_metadata(path).with_context(|| format!("stat {}", path.display()))?;
        h.update(name.as_bytes());
        h.update([0]);
        h.update(format!("{:o}\0", meta.permissions().mode()).as_bytes());
        if meta.file_type().is_symlink() {
            let target = fs::read_link(path)?;
            h.update(target.as_os_str().as_encoded_bytes());
        } else if meta.is_file() {
            h.update(meta.size().to_le_bytes());
            let mut f = File::open(path).with_context(|| format!("open {}", path.display()))?;
            io::copy(&mut f, h).with_context(|| format!("read {}", path.display()))?;
        } else if meta.is_dir() {
            let mut names: Vec<String> = fs::read_dir(path)
                .with_context(|| format!("read {}", path.display()))?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<io::Result<_>>()?;
            names.sort();
            for n in names {
                let child_rel = if rel.is_empty() {
                    n.clone()
                } else {
                    format!("{rel}/{n}")
                };
                if self.skips(&child_rel) && (self.skips_dir(&child_rel) || !path.join(&n).is_dir())
                {
                    continue;
                }
                let child_name = if name.is_empty() {
                    n.clone()
                } else {
                    format!("{name}/{n}")
                };
                self.hash_tree(&child_rel, &path.join(&n), &child_name, h)?;
            }
        }
        h.update([0xff]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_paths_wildcards_and_refuses_the_outside() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), "a").unwrap();
        fs::write(dir.path().join("b.txt"), "b").unwrap();
        fs::write(dir.path().join("c.log"), "c").unwrap();
        fs::write(dir.path().join(".dockerignore"), "b.txt\n").unwrap();
        let ctx = BuildContext::dir(dir.path()).unwrap();
        let s = &ctx.source;
        let rels = |v: Vec<Source>| v.into_iter().map(|s| s.rel).collect::<Vec<_>>();
        assert_eq!(rels(s.resolve("*.txt", "COPY").unwrap()), ["a.txt"]);
        assert_eq!(rels(s.resolve("./a.txt", "COPY").unwrap()), ["a.txt"]);
        let e = s.resolve("b.txt", "COPY").unwrap_err().to_string();
        assert!(e.contains("no such file or directory"), "{e}");
        let e = s.resolve("../x", "COPY").unwrap_err().to_string();
        assert!(e.contains("outside the build context"), "{e}");
        let d1 = s.digest(&s.resolve(".", "COPY").unwrap()).unwrap();
        fs::write(dir.path().join("b.txt"), "ignored change").unwrap();
        assert_eq!(d1, s.digest(&s.resolve(".", "COPY").unwrap()).unwrap());
        fs::write(dir.path().join("a.txt"), "changed").unwrap();
        assert_ne!(d1, s.digest(&s.resolve(".", "COPY").unwrap()).unwrap());
    }
}
