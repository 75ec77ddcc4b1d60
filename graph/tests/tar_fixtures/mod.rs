//! Hand-built tar streams for the archive tests: headers are written byte by byte so names
//! the tar crate's own writer refuses (`..`, absolute, NUL, huge) can be crafted.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Builds a tar stream entry by entry.
#[derive(Debug, Default)]
pub struct TarBuilder {
    pub buf: Vec<u8>,
}

/// One entry to write; fields left default are zero.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Vec<u8>,
    pub device: (u32, u32),
    pub pax: Vec<(Vec<u8>, Vec<u8>)>,
    pub data: Vec<u8>,
}

impl Entry {
    pub fn new(name: impl AsRef<[u8]>, kind: u8) -> Self {
        let (uid, gid) = current_ids();
        Entry {
            name: name.as_ref().to_vec(),
            kind,
            mode: if kind == b'5' { 0o755 } else { 0o644 },
            uid,
            gid,
            mtime: 1_600_000_000,
            link: Vec::new(),
            device: (0, 0),
            pax: Vec::new(),
            data: Vec::new(),
        }
    }
    pub fn file(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        let mut e = Entry::new(name, b'0');
        e.data = data.as_ref().to_vec();
        e
    }
    pub fn dir(name: impl AsRef<[u8]>) -> Self {
        Entry::new(name, b'5')
    }
    pub fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        let mut e = Entry::new(name, b'2');
        e.mode = 0o777;
        e.link = target.as_ref().to_vec();
        e
    }
    pub fn hardlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        let mut e = Entry::new(name, b'1');
        e.link = target.as_ref().to_vec();
        e
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    pub fn mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }
    pub fn xattr(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.pax.push((
            format!("SCHILY.xattr.{key}").into_bytes(),
            value.as_ref().to_vec(),
        ));
        self
    }
    pub fn pax(mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.pax
            .push((key.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }
}

/// The caller's uid and gid: plain (non-root) tests write entries owned by them.
pub fn current_ids() -> (u64, u64) {
    let md = fs::metadata("/proc/self").expect("stat /proc/self");
    (u64::from(md.uid()), u64::from(md.gid()))
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{:0width$o}\0", value, width = field.len() - 1);
    assert_eq!(
        text.len(),
        field.len(),
        "value {value} does not fit the field"
    );
    field.copy_from_slice(text.as_bytes());
}

fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    [len.to_string().as_bytes(), b" ", key, b"=", value, b"\n"].concat()
}

/// One raw 512-byte ustar header.
#[allow(clippy::too_many_arguments)] // one per header field
pub fn raw_header(
    name: &[u8],
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    link: &[u8],
    dev: (u32, u32),
) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], u64::from(dev.0));
    octal(&mut h[337..345], u64::from(dev.1));
    set_checksum(&mut h);
    h
}

/// Recomputes a header's checksum field.
pub fn set_checksum(h: &mut [u8; 512]) {
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder::default()
    }

    fn pad(&mut self) {
        let rem = self.buf.len() % 512;
        if rem != 0 {
            self.buf.resize(self.buf.len() + 512 - rem, 0);
        }
    }

    /// Appends raw bytes (already block-aligned entries from elsewhere).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    pub fn add(&mut self, e: Entry) -> &mut Self {
        let mut pax = Vec::new();
        if e.name.len() > 100 {
            pax.extend(pax_record(b"path", &e.name));
        }
        if e.link.len() > 100 {
            pax.extend(pax_record(b"linkpath", &e.link));
        }
        for (k, v) in &e.pax {
            pax.extend(pax_record(k, v));
        }
        if !pax.is_empty() {
            let h = raw_header(
                b"././@PaxHeader",
                b'x',
                0o644,
                0,
                0,
                pax.len() as u64,
                e.mtime,
                b"",
                (0, 0),
            );
            self.buf.extend_from_slice(&h);
            self.buf.extend_from_slice(&pax);
            self.pad();
        }
        let h = raw_header(
            &e.name,
            e.kind,
            e.mode,
            e.uid,
            e.gid,
            e.data.len() as u64,
            e.mtime,
            &e.link,
            e.device,
        );
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(&e.data);
        self.pad();
        self
    }

    /// The stream with its end-of-archive blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

/// Names directly inside `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}
