//! The Dockerfile parser, following Docker's rules: parser directives at the top (`# escape=`,
//! `# syntax=` accepted and ignored), comment lines, line continuations with the escape
//! character, and heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) on RUN, COPY and ADD.
//!
//! Parsing only splits the file into instructions (keyword, flags, argument text, heredocs,
//! line number); variable expansion happens when an instruction runs (`expand`), since values
//! depend on the build state.

use anyhow::{Result, bail};

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Line number (1-based) where it starts.
    pub line: usize,
    /// The keyword, upper case (`RUN`).
    pub keyword: String,
    /// `--name=value` flags before the arguments, in order (`--name` alone gives "").
    pub flags: Vec<(String, String)>,
    /// The argument text after the flags, continuations joined.
    pub args: String,
    /// Heredoc bodies, in the order they appear in `args`.
    pub heredocs: Vec<Heredoc>,
    /// The instruction as written (continuations joined), for `Step N/M : ...`.
    pub original: String,
}

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (`EOF`).
    pub name: String,
    /// The text between the instruction line and the delimiter, lines ending in `\n`.
    pub content: String,
    /// The delimiter was quoted: no variable expansion in the body.
    pub quoted: bool,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// The instructions in order.
    pub instructions: Vec<Instruction>,
}

const KNOWN: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Parses Dockerfile text.
pub fn parse(text: &str) -> Result<Dockerfile> {
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    let mut i = 0;
    // Directives: only at the very top, before any other line.
    while i < lines.len() {
        let Some((key, value)) = directive(lines[i]) else {
            break;
        };
        // syntax= names a BuildKit frontend and check= configures its linter: both ignored.
        if key == "escape" {
            escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                other => bail!(
                    "Dockerfile line {}: invalid escape token '{other}' does not match ` or \\",
                    i + 1
                ),
            };
        }
        i += 1;
    }
    let mut instructions = Vec::new();
    while i < lines.len() {
        let start = i;
        let first = lines[i].trim_start();
        i += 1;
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        let mut joined = String::new();
        let mut current = first.to_string();
        loop {
            match strip_continuation(&current, escape) {
                Some(head) => {
                    joined.push_str(head);
                    // The next line that is not a comment or empty continues it.
                    let mut next = None;
                    while i < lines.len() {
                        let l = lines[i];
                        i += 1;
                        let t = l.trim_start();
                        if t.starts_with('#') || t.is_empty() {
                            continue;
                        }
                        next = Some(l.to_string());
                        break;
                    }
                    match next {
                        Some(n) => current = n,
                        None => break,
                    }
                }
                None => {
                    joined.push_str(&current);
                    break;
                }
            }
        }
        let joined = joined.trim().to_string();
        let (word, rest) = joined
            .split_once(char::is_whitespace)
            .unwrap_or((joined.as_str(), ""));
        let keyword = word.to_ascii_uppercase();
        if !KNOWN.contains(&keyword.as_str()) {
            bail!(
                "Dockerfile line {}: unknown instruction: {}",
                start + 1,
                word
            );
        }
        let (flags, args) = split_flags(rest.trim_start());
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip_tabs, quoted) in heredoc_markers(&args) {
                let mut content = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let l = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if l == name {
                        closed = true;
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                if !closed {
                    bail!(
                        "Dockerfile line {}: unterminated heredoc: no line '{name}' after it",
                        start + 1
                    );
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    quoted,
                });
            }
        }
        instructions.push(Instruction {
            line: start + 1,
            keyword,
            flags,
            args,
            heredocs,
            original: joined.clone(),
        });
    }
    Ok(Dockerfile {
        escape,
        instructions,
    })
}

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_string()))
}

/// The line without its trailing escape (and the whitespace after it), when it continues.
fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    t.strip_suffix(escape)
}

/// Leading `--flag[=value]` words.
pub fn split_flags(s: &str) -> (Vec<(String, String)>, String) {
    let mut flags = Vec::new();
    let mut rest = s;
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..end];
        if word.is_empty() {
            break;
        }
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        flags.push((name.to_ascii_lowercase(), value.to_string()));
        rest = after[end..].trim_start();
    }
    (flags, rest.to_string())
}

/// The heredoc markers in an argument text: (name, `<<-`, quoted), outside quotes.
pub fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let chars: Vec<char> = args.chars().collect();
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '<'
                && chars.get(i + 1) == Some(&'<')
                && chars.get(i + 2) != Some(&'<') =>
            {
                let mut j = i + 2;
                let strip = chars.get(j) == Some(&'-');
                if strip {
                    j += 1;
                }
                let q = chars.get(j).copied().filter(|c| *c == '"' || *c == '\'');
                if q.is_some() {
                    j += 1;
                }
                let start = j;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if j > start {
                    let name: String = chars[start..j].iter().collect();
                    if q.is_some() && chars.get(j) == q.as_ref() {
                        j += 1;
                    }
                    out.push((name, strip, q.is_some()));
                    i = j;
                    continue;
                }
            }
            None => {}
        }
        i += 1;
    }
    out
}

/// Exec form: a JSON array of strings.
pub fn json_form(args: &str) -> Option<Vec<String>> {
    let t = args.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directives_comments_continuations_and_flags() {
        let text = "# syntax=docker/dockerfile:1\n# escape=`\n\n# a comment\nFROM busybox AS base\nrun echo a `\n  # inner comment\n  && echo b\nCOPY --from=base --chown=1:2 /a /b\n";
        let d = parse(text).unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.instructions.len(), 3);
        assert_eq!(d.instructions[0].keyword, "FROM");
        assert_eq!(d.instructions[0].line, 5);
        assert_eq!(d.instructions[1].keyword, "RUN");
        assert_eq!(d.instructions[1].args, "echo a   && echo b");
        assert_eq!(d.instructions[2].flags[0], ("from".into(), "base".into()));
        assert_eq!(d.instructions[2].flags[1], ("chown".into(), "1:2".into()));
        assert_eq!(d.instructions[2].args, "/a /b");
    }

    #[test]
    fn parses_heredocs() {
        let text = "FROM x\nRUN <<EOF\necho hi\n# not a comment\nEOF\nCOPY <<-\"END\" /f\n\tline $X\n\tEND\nENV A=b\n";
        let d = parse(text).unwrap();
        assert_eq!(d.instructions.len(), 4);
        assert_eq!(
            d.instructions[1].heredocs[0].content,
            "echo hi\n# not a comment\n"
        );
        assert_eq!(d.instructions[2].heredocs[0].content, "line $X\n");
        assert!(d.instructions[2].heredocs[0].quoted);
        assert_eq!(d.instructions[3].line, 9);
    }

    #[test]
    fn unknown_instruction_names_the_line() {
        let e = parse("FROM x\n\nFOO bar\n").unwrap_err().to_string();
        assert_eq!(e, "Dockerfile line 3: unknown instruction: FOO");
    }

    #[test]
    fn exec_form_is_a_json_string_array() {
        assert_eq!(
            json_form(r#"["a", "b c"]"#),
            Some(vec!["a".to_string(), "b c".to_string()])
        );
        assert_eq!(json_form("[ not json"), None);
        assert_eq!(json_form("echo [x]"), None);
    }
}
