//! Docker's word processing for instruction arguments: quotes (`'...'` literal, `"..."` with
//! expansion), the escape character, and variables (`$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`). Unset variables expand to
//! nothing.

use anyhow::{Result, bail};

/// Variables visible to an instruction, later entries winning.
pub trait Lookup {
    /// The value of `name`, if set.
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Lookup for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Lookup for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

/// Processes one word: expansion and quote removal, whitespace kept.
pub fn word<L: Lookup + ?Sized>(s: &str, vars: &L, escape: char) -> Result<String> {
    let f = |n: &str| vars.lookup(n);
    let mut p = Processor::new(s, &f, escape);
    let (words, _) = p.process(None, false)?;
    Ok(words.concat())
}

/// Processes a text into words split on unquoted whitespace.
pub fn words<L: Lookup + ?Sized>(s: &str, vars: &L, escape: char) -> Result<Vec<String>> {
    let f = |n: &str| vars.lookup(n);
    let mut p = Processor::new(s, &f, escape);
    Ok(p.process(None, true)?.0)
}

/// Splits on unquoted whitespace without processing (quotes and escapes stay), as Docker does
/// for `KEY=value` lists before each word is processed.
pub fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        if c == escape && quote != Some('\'') {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            in_word = true;
            continue;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

struct Processor<'a> {
    chars: Vec<char>,
    pos: usize,
    vars: &'a dyn Fn(&str) -> Option<String>,
    escape: char,
}

impl<'a> Processor<'a> {
    fn new(s: &str, vars: &'a dyn Fn(&str) -> Option<String>, escape: char) -> Self {
        Processor {
            chars: s.chars().collect(),
            pos: 0,
            vars,
            escape,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes until `stop` (consumed) or the end; returns the words and whether `stop` was
    /// found.
    fn process(&mut self, stop: Option<char>, split: bool) -> Result<(Vec<String>, bool)> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                if in_word || !split {
                    words.push(cur);
                }
                return Ok((words, true));
            }
            if split && c.is_whitespace() {
                self.pos += 1;
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                continue;
            }
            in_word = true;
            if c == self.escape {
                self.pos += 1;
                match self.next() {
                    Some(n) => cur.push(n),
                    None => cur.push(c),
                }
            } else if c == '\'' {
                self.pos += 1;
                loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => bail!("unexpected end of statement while looking for matching '"),
                    }
                }
            } else if c == '"' {
                self.pos += 1;
                loop {
                    match self.next() {
                        Some('"') => break,
                        Some('$') => cur.push_str(&self.dollar()?),
                        Some(ch) if ch == self.escape => match self.peek() {
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                cur.push(n);
                            }
                            _ => cur.push(ch),
                        },
                        Some(ch) => cur.push(ch),
                        None => bail!("unexpected end of statement while looking for matching \""),
                    }
                }
            } else if c == '$' {
                self.pos += 1;
                cur.push_str(&self.dollar()?);
            } else {
                self.pos += 1;
                cur.push(c);
            }
        }
        if in_word || (!split && words.is_empty()) {
            words.push(cur);
        }
        Ok((words, false))
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let name = self.name();
                if name.is_empty() {
                    bail!("bad substitution: missing variable name in ${{}}");
                }
                match self.next() {
                    Some('}') => Ok((self.vars)(&name).unwrap_or_default()),
                    Some(':') => {
                        let op = self.next();
                        let (w, found) = self.process(Some('}'), false)?;
                        if !found {
                            bail!("bad substitution: missing '}}' after ${{{name}");
                        }
                        let w = w.concat();
                        let value = (self.vars)(&name).filter(|v| !v.is_empty());
                        self.modifier(&name, op, value, w)
                    }
                    Some(op @ ('-' | '+' | '?')) => {
                        let (w, found) = self.process(Some('}'), false)?;
                        if !found {
                            bail!("bad substitution: missing '}}' after ${{{name}");
                        }
                        let value = (self.vars)(&name);
                        self.modifier(&name, Some(op), value, w.concat())
                    }
                    _ => bail!("bad substitution: unsupported modifier in ${{{name}...}}"),
                }
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok((self.vars)(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn modifier(
        &self,
        name: &str,
        op: Option<char>,
        value: Option<String>,
        word: String,
    ) -> Result<String> {
        Ok(match op {
            Some('-') => value.unwrap_or(word),
            Some('+') => value.map(|_| word).unwrap_or_default(),
            Some('?') => match value {
                Some(v) => v,
                None if word.is_empty() => bail!("{name}: is not allowed to be unset"),
                None => bail!("{name}: {word}"),
            },
            _ => bail!("bad substitution: unsupported modifier in ${{{name}:...}}"),
        })
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(String, String)> {
        vec![
            ("A".into(), "one".into()),
            ("E".into(), String::new()),
            ("A".into(), "two".into()),
        ]
    }

    #[test]
    fn expands_variables_like_docker() {
        let v = vars();
        assert_eq!(word("$A", &v, '\\').unwrap(), "two");
        assert_eq!(word("${A}x", &v, '\\').unwrap(), "twox");
        assert_eq!(word("${NO:-def}", &v, '\\').unwrap(), "def");
        assert_eq!(word("${E:-def}", &v, '\\').unwrap(), "def");
        assert_eq!(word("${E-def}", &v, '\\').unwrap(), "");
        assert_eq!(word("${A:+alt}", &v, '\\').unwrap(), "alt");
        assert_eq!(word("${NO:+alt}", &v, '\\').unwrap(), "");
        assert_eq!(word("${NO:-$A}", &v, '\\').unwrap(), "two");
        assert!(word("${NO:?need it}", &v, '\\').is_err());
        assert_eq!(word("'$A' \"$A\" \\$A", &v, '\\').unwrap(), "$A two $A");
        assert_eq!(word("a$", &v, '\\').unwrap(), "a$");
        assert_eq!(word("`$A", &v, '`').unwrap(), "$A");
    }

    #[test]
    fn splits_words_on_unquoted_space() {
        let v = vars();
        assert_eq!(
            words("a \"b c\" $A  d\\ e", &v, '\\').unwrap(),
            ["a", "b c", "two", "d e"]
        );
        assert_eq!(
            split_raw(r#"A=1 B="x y" C=a\ b"#, '\\'),
            ["A=1", r#"B="x y""#, r"C=a\ b"]
        );
    }
}
