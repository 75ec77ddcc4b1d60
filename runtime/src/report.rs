//! Carrying an [`Error`] from a child (before `execve`) to the parent over a close-on-exec
//! pipe: EOF with no bytes means the child reached `execve`; bytes are one encoded error.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::Error;

const SEP: char = '\u{1f}';

/// Encodes the variants a child can raise; anything else travels as its message.
pub(crate) fn encode(err: &Error) -> Vec<u8> {
    let fields: Vec<String> = match err {
        Error::Io { op, path, source } => vec![
            "io".into(),
            op.to_string(),
            path.to_string_lossy().into_owned(),
            source.raw_os_error().unwrap_or(libc::EIO).to_string(),
        ],
        Error::CommandNotFound { command, reason } => {
            vec!["notfound".into(), command.clone(), reason.clone()]
        }
        Error::NotExecutable { command, reason } => {
            vec!["noexec".into(), command.clone(), reason.clone()]
        }
        Error::UserNotFound { what, file } => vec!["user".into(), what.clone(), file.to_string()],
        other => vec!["other".into(), other.to_string()],
    };
    fields.join(&SEP.to_string()).into_bytes()
}

/// Decodes what [`encode`] wrote.
pub(crate) fn decode(bytes: &[u8]) -> Error {
    let text = String::from_utf8_lossy(bytes);
    let f: Vec<&str> = text.split(SEP).collect();
    let get = |i: usize| f.get(i).copied().unwrap_or("").to_string();
    match f.first().copied() {
        Some("io") => Error::io(
            get(1),
            PathBuf::from(get(2)),
            io::Error::from_raw_os_error(get(3).parse().unwrap_or(libc::EIO)),
        ),
        Some("notfound") => Error::CommandNotFound {
            command: get(1),
            reason: get(2),
        },
        Some("noexec") => Error::NotExecutable {
            command: get(1),
            reason: get(2),
        },
        Some("user") => Error::UserNotFound {
            what: get(1),
            file: if get(2) == "group" { "group" } else { "passwd" },
        },
        _ => Error::InvalidInput(format!("container init failed: {}", get(1))),
    }
}

/// Writes an error into the pipe (child side). Best effort: the child exits right after.
pub(crate) fn send(pipe: &mut impl Write, err: &Error) {
    let _ = pipe.write_all(&encode(err));
}

/// Reads the pipe to EOF (parent side): `None` when the child reached `execve`.
pub(crate) fn receive(pipe: &mut impl Read) -> io::Result<Option<Error>> {
    let mut buf = Vec::new();
    pipe.read_to_end(&mut buf)?;
    Ok((!buf.is_empty()).then(|| decode(&buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn round_trip() {
        let cases = vec![
            Error::errno("mount proc", "/r/proc", libc::EPERM),
            Error::CommandNotFound {
                command: "foo".into(),
                reason: "executable file not found in $PATH".into(),
            },
            Error::NotExecutable {
                command: "/etc/passwd".into(),
                reason: "permission denied".into(),
            },
            Error::UserNotFound {
                what: "group x".into(),
                file: "group",
            },
        ];
        for e in cases {
            let back = decode(&encode(&e));
            assert_eq!(back.to_string(), e.to_string());
            assert_eq!(back.kind(), e.kind());
        }
        let other = decode(&encode(&Error::InvalidInput("bad".into())));
        assert_eq!(other.kind(), ErrorKind::InvalidInput);
        assert!(receive(&mut &b""[..]).unwrap().is_none());
    }
}
