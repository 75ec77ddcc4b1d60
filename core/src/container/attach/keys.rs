//! Docker's detach keys (`--detach-keys`, default ctrl-p ctrl-q): a key sequence in an
//! attached client's input that ends the attach without touching the container.

use anyhow::{Result, bail};

/// Docker's default sequence, ctrl-p ctrl-q.
const DEFAULT: &[u8] = &[0x10, 0x11];

/// A detach sequence and how much of it the input has matched so far.
#[derive(Debug, Clone, Default)]
pub struct DetachKeys {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachKeys {
    /// Parses Docker's syntax: comma-separated `ctrl-X` or single characters; `None` (or an
    /// empty string) is the default ctrl-p,ctrl-q.
    pub fn parse(spec: Option<&str>) -> Result<DetachKeys> {
        let Some(spec) = spec.filter(|s| !s.is_empty()) else {
            return Ok(DetachKeys {
                keys: DEFAULT.to_vec(),
                matched: 0,
            });
        };
        let mut keys = Vec::new();
        for part in spec.split(',') {
            let key = match part.strip_prefix("ctrl-") {
                Some(k) if k.len() == 1 => match k.as_bytes()[0] {
                    c @ (b'a'..=b'z' | b'@' | b'[' | b'\\' | b']' | b'^' | b'_') => {
                        c.to_ascii_uppercase() & 0x1f
                    }
                    _ => bail!("Unknown character: '{k}'"),
                },
                None if part.len() == 1 => part.as_bytes()[0],
                _ => bail!("Unknown character: '{part}'"),
            };
            keys.push(key);
        }
        Ok(DetachKeys { keys, matched: 0 })
    }

    /// No detach sequence: everything is input.
    pub fn none() -> DetachKeys {
        DetachKeys::default()
    }

    /// Feeds `input`: the bytes to pass on, and whether the sequence is now complete (then
    /// what follows it is dropped). A partial match is held back until the next bytes decide.
    pub fn scan(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (input.to_vec(), false);
        }
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // A sequence that did not complete is ordinary input.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_syntax() {
        assert_eq!(DetachKeys::parse(None).unwrap().keys, vec![0x10, 0x11]);
        assert_eq!(
            DetachKeys::parse(Some("ctrl-a,x")).unwrap().keys,
            vec![0x01, b'x']
        );
        assert_eq!(DetachKeys::parse(Some("ctrl-@")).unwrap().keys, vec![0x00]);
        assert!(DetachKeys::parse(Some("ctrl-ab")).is_err());
        assert!(DetachKeys::parse(Some("xy")).is_err());
    }

    #[test]
    fn scan_passes_input_and_finds_the_sequence_across_reads() {
        let mut k = DetachKeys::parse(None).unwrap();
        assert_eq!(k.scan(b"ab"), (b"ab".to_vec(), false));
        // ctrl-p then something else: both pass.
        assert_eq!(k.scan(b"\x10c"), (b"\x10c".to_vec(), false));
        // ctrl-p ctrl-p ctrl-q: the first ctrl-p passes, the sequence completes.
        assert_eq!(k.scan(b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(k.scan(b"\x10\x11tail"), (b"\x10".to_vec(), true));
        let mut none = DetachKeys::none();
        assert_eq!(none.scan(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
    }
}
