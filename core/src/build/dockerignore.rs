//! `.dockerignore`, with Docker's rules: one pattern a line, `#` comments, paths cleaned and
//! relative to the context root, `*` and `?` within one path element, `**` across any number
//! of them, `[...]` classes, `!` exceptions; the last matching pattern decides, and a path is
//! excluded when it or one of its parent directories matches.

/// One pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    glob: Vec<char>,
    exclusion: bool,
}

/// The patterns of a `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, p) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let p = clean(p);
            if p.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                glob: p.chars().collect(),
                exclusion,
            });
        }
        Ignore { patterns }
    }

    /// Whether any pattern is an exception (then an excluded directory must still be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for p in &self.patterns {
            let hit = matches(&p.glob, &path) || parents.iter().any(|pp| matches(&p.glob, pp));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }
}

/// Go's `filepath.Clean` for relative, `/`-separated paths, leading `/` dropped.
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Whether the glob matches the whole text.
pub fn matches(glob: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    match_at(glob, &text)
}

fn match_at(g: &[char], t: &[char]) -> bool {
    let Some(&c) = g.first() else {
        return t.is_empty();
    };
    match c {
        '*' if g.get(1) == Some(&'*') => {
            // `**/` matches zero or more whole directories; `**` anything.
            let rest = if g.get(2) == Some(&'/') {
                &g[3..]
            } else {
                &g[2..]
            };
            if g.get(2) == Some(&'/') {
                if match_at(rest, t) {
                    return true;
                }
                (0..t.len()).any(|i| t[i] == '/' && match_at(rest, &t[i + 1..]))
            } else {
                (0..=t.len()).any(|i| match_at(rest, &t[i..]))
            }
        }
        '*' => {
            let rest = &g[1..];
            for i in 0..=t.len() {
                if match_at(rest, &t[i..]) {
                    return true;
                }
                if i < t.len() && t[i] == '/' {
                    break;
                }
            }
            false
        }
        '?' => !t.is_empty() && t[0] != '/' && match_at(&g[1..], &t[1..]),
        '[' => {
            let Some(close) = g.iter().skip(1).position(|&x| x == ']').map(|p| p + 1) else {
                return !t.is_empty() && t[0] == '[' && match_at(&g[1..], &t[1..]);
            };
            if t.is_empty() || t[0] == '/' {
                return false;
            }
            let class = &g[1..close];
            let (negate, class) = match class.first() {
                Some('^' | '!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    if class[i] <= t[0] && t[0] <= class[i + 2] {
                        hit = true;
                    }
                    i += 3;
                } else {
                    if class[i] == t[0] {
                        hit = true;
                    }
                    i += 1;
                }
            }
            hit != negate && match_at(&g[close + 1..], &t[1..])
        }
        '\\' if g.len() > 1 => !t.is_empty() && t[0] == g[1] && match_at(&g[2..], &t[1..]),
        c => !t.is_empty() && t[0] == c && match_at(&g[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_dockers_rules() {
        let i = Ignore::parse(
            "# comment\n*.log\n!keep.log\n/build\n**/tmp\ndocs/**/*.md\n!docs/README.md\n",
        );
        assert!(i.excludes("a.log"));
        assert!(!i.excludes("keep.log"));
        assert!(!i.excludes("sub/a.log"), "* does not cross /");
        assert!(i.excludes("build"));
        assert!(i.excludes("build/x/y"), "a parent directory matches");
        assert!(i.excludes("tmp"));
        assert!(i.excludes("a/b/tmp/c"));
        assert!(i.excludes("docs/x.md"));
        assert!(i.excludes("docs/a/b/x.md"));
        assert!(!i.excludes("docs/README.md"));
        assert!(!i.excludes("src/main.rs"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn globs() {
        let m = |g: &str, t: &str| matches(&g.chars().collect::<Vec<_>>(), t);
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "a/c"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("**", "a/b/c"));
        assert!(m("**/*.go", "x.go"));
        assert!(m("**/*.go", "a/b/x.go"));
    }
}
