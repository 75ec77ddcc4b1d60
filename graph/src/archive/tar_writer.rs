//! Writing layer tar entries: ustar headers, with a PAX header for what does not fit
//! (long names and link targets, big ids and sizes, xattrs as `SCHILY.xattr.*`).

use std::io::{self, Read, Write};

use tar::{EntryType, Header};

use super::xattrs::Xattr;

/// The largest value a 7-digit octal ustar id field holds.
const MAX_OCTAL_ID: u64 = 0o7_777_777;
/// The largest value the 11-digit octal ustar size field holds.
const MAX_OCTAL_SIZE: u64 = 0o77_777_777_777;

/// One entry to write.
#[derive(Debug, Clone)]
pub(super) struct EntryHeader {
    /// Path relative to the layer root, without leading or trailing slash.
    pub(super) path: Vec<u8>,
    /// Entry type.
    pub(super) kind: EntryType,
    /// Permission bits with setuid, setgid and sticky.
    pub(super) mode: u32,
    /// Owner.
    pub(super) uid: u64,
    /// Group.
    pub(super) gid: u64,
    /// Modification time, seconds since the epoch.
    pub(super) mtime: u64,
    /// Content size (regular files only).
    pub(super) size: u64,
    /// Symlink or hard link target.
    pub(super) link: Option<Vec<u8>>,
    /// Device major and minor numbers.
    pub(super) device: (u32, u32),
    /// Extended attributes.
    pub(super) xattrs: Vec<Xattr>,
}

impl EntryHeader {
    /// An entry of `kind` at `path` with everything else zero.
    pub(super) fn new(path: Vec<u8>, kind: EntryType) -> Self {
        EntryHeader {
            path,
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 0,
            link: None,
            device: (0, 0),
            xattrs: Vec::new(),
        }
    }
}

/// A tar stream being written.
pub(super) struct TarWriter<'a> {
    out: tar::Builder<&'a mut dyn Write>,
}

impl std::fmt::Debug for TarWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TarWriter")
    }
}

impl<'a> TarWriter<'a> {
    /// Starts a tar on `out`.
    pub(super) fn new(out: &'a mut dyn Write) -> Self {
        TarWriter {
            out: tar::Builder::new(out),
        }
    }

    /// Appends one entry; `data` must yield exactly `entry.size` bytes.
    pub(super) fn append(&mut self, entry: &EntryHeader, data: &mut dyn Read) -> io::Result<()> {
        let mut header = Header::new_ustar();
        let mut pax = Vec::new();
        header.set_entry_type(entry.kind);
        header.set_mode(entry.mode & 0o7777);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(entry.mtime);
        header.set_size(entry.size);
        if entry.kind.is_character_special() || entry.kind.is_block_special() {
            header.set_device_major(entry.device.0)?;
            header.set_device_minor(entry.device.1)?;
        }
        let mut name = entry.path.clone();
        if entry.kind.is_dir() {
            name.push(b'/');
        }
        if !set_ustar_name(&mut header, &name) {
            pax_record(&mut pax, b"path", &name);
        }
        if let Some(link) = &entry.link {
            let field = &mut header.as_old_mut().linkname;
            if link.len() <= field.len() {
                field[..link.len()].copy_from_slice(link);
            } else {
                let len = field.len();
                field.copy_from_slice(&link[..len]);
                pax_record(&mut pax, b"linkpath", link);
            }
        }
        if entry.uid > MAX_OCTAL_ID {
            pax_record(&mut pax, b"uid", entry.uid.to_string().as_bytes());
        }
        if entry.gid > MAX_OCTAL_ID {
            pax_record(&mut pax, b"gid", entry.gid.to_string().as_bytes());
        }
        if entry.size > MAX_OCTAL_SIZE {
            pax_record(&mut pax, b"size", entry.size.to_string().as_bytes());
        }
        for (key, value) in &entry.xattrs {
            pax_record(&mut pax, &[&b"SCHILY.xattr."[..], key].concat(), value);
        }
        if !pax.is_empty() {
            let mut pax_header = Header::new_ustar();
            pax_header.set_entry_type(EntryType::XHeader);
            pax_header.set_mode(0o644);
            pax_header.set_mtime(entry.mtime);
            pax_header.set_size(pax.len() as u64);
            set_ustar_name(&mut pax_header, b"././@PaxHeader");
            pax_header.set_cksum();
            self.out.append(&pax_header, &pax[..])?;
        }
        header.set_cksum();
        self.out.append(&header, data)
    }

    /// Writes the end-of-archive blocks.
    pub(super) fn finish(self) -> io::Result<()> {
        self.out.into_inner().and_then(|out| out.flush())
    }
}

/// Puts `name` in the ustar name (and prefix) fields; when it does not fit, puts its head there
/// and returns false (the caller adds a PAX `path`).
fn set_ustar_name(header: &mut Header, name: &[u8]) -> bool {
    let Some(ustar) = header.as_ustar_mut() else {
        return false;
    };
    if name.len() <= ustar.name.len() {
        ustar.name[..name.len()].copy_from_slice(name);
        return true;
    }
    // Split at a slash: prefix (up to 155 bytes) / name (up to 100 bytes, not empty).
    let split = name.iter().enumerate().position(|(i, b)| {
        *b == b'/'
            && i <= ustar.prefix.len()
            && name.len() - i - 1 <= ustar.name.len()
            && name.len() - i - 1 > 0
    });
    if let Some(i) = split {
        ustar.prefix[..i].copy_from_slice(&name[..i]);
        ustar.name[..name.len() - i - 1].copy_from_slice(&name[i + 1..]);
        return true;
    }
    let len = ustar.name.len();
    ustar.name.copy_from_slice(&name[..len]);
    false
}

/// Appends the PAX record `LEN key=value\n`, where LEN counts the whole record with itself.
pub(super) fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        for value_len in [0, 1, 5, 6, 7, 90, 95, 96, 97, 994, 995, 996, 10_000] {
            let mut out = Vec::new();
            pax_record(&mut out, b"path", &vec![b'x'; value_len]);
            let text = String::from_utf8(out.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(
                len.parse::<usize>().unwrap(),
                out.len(),
                "value length {value_len}"
            );
        }
    }

    #[test]
    fn names_round_trip_through_the_tar_reader() {
        let long_dir = "d".repeat(120);
        let names = [
            "short".to_string(),
            "x".repeat(100),
            format!("{long_dir}/file"),
            format!("{}/{}", "a".repeat(200), "b".repeat(150)),
        ];
        let mut buf = Vec::new();
        let mut w = TarWriter::new(&mut buf);
        for name in &names {
            let mut e = EntryHeader::new(name.as_bytes().to_vec(), EntryType::Regular);
            e.xattrs.push((b"user.k".to_vec(), b"v\0bin".to_vec()));
            e.link = None;
            w.append(&e, &mut io::empty()).unwrap();
        }
        let mut link = EntryHeader::new(b"l".to_vec(), EntryType::Symlink);
        link.link = Some("t".repeat(300).into_bytes());
        w.append(&link, &mut io::empty()).unwrap();
        w.finish().unwrap();
        let mut archive = tar::Archive::new(&buf[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            if path == "l" {
                assert_eq!(entry.link_name_bytes().unwrap().len(), 300);
                continue;
            }
            let ext: Vec<(String, Vec<u8>)> = entry
                .pax_extensions()
                .unwrap()
                .unwrap()
                .map(|r| r.unwrap())
                .map(|r| (r.key().unwrap().to_string(), r.value_bytes().to_vec()))
                .collect();
            assert!(ext.contains(&("SCHILY.xattr.user.k".to_string(), b"v\0bin".to_vec())));
            seen.push(path);
        }
        assert_eq!(seen, names);
    }
}
