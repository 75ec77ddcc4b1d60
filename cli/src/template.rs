//! The Go text/template subset Docker's `--format` flags are used with, over JSON values:
//! `{{.Field.Sub}}`, `{{.}}`, `{{json .X}}`, `{{index .X "key"}}`, `{{len .X}}`,
//! `{{join .X ","}}`, `{{upper .X}}`, `{{lower .X}}`, `{{printf "%s-%d" .A .B}}`,
//! `{{if ...}}...{{else}}...{{end}}`, `{{range ...}}...{{end}}` and `{{-`/`-}}` trimming.
//! Values print as Go prints them (`true`, `map[a:1]`, `[x y]`, `<no value>`).

use anyhow::{Result, bail};
use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    /// A missing field is an error (Go templates over structs), not `<no value>` (over maps).
    strict: bool,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Arg>),
    If {
        cond: Vec<Arg>,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        over: Vec<Arg>,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` (empty path: `.`).
    Field(Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Func(String),
    /// A parenthesised pipeline.
    Group(Vec<Arg>),
    /// Fields of a parenthesised pipeline's value: `(index .A 0).Name`.
    Fields(Box<Arg>, Vec<String>),
}

/// One `{{...}}` or text run.
enum Token {
    Text(String),
    Action(String),
}

fn tokenize(src: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        let mut inner = &rest[start + 2..];
        if let Some(t) = inner.strip_prefix('-')
            && t.starts_with(char::is_whitespace)
        {
            text = text.trim_end().to_string();
            inner = t;
        }
        let Some(end) = find_close(inner) else {
            bail!("template: unclosed action in {src:?}");
        };
        let mut action = &inner[..end];
        let mut after = &inner[end + 2..];
        if let Some(a) = action.strip_suffix('-')
            && a.ends_with(char::is_whitespace)
        {
            action = a;
            after = after.trim_start();
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text));
        }
        tokens.push(Token::Action(action.trim().to_string()));
        rest = after;
    }
    if !rest.is_empty() {
        tokens.push(Token::Text(rest.to_string()));
    }
    Ok(tokens)
}

/// The `}}` closing an action, skipping over string literals.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (Some(b'"'), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, b'"' | b'`') => quote = Some(bytes[i]),
            (None, b'}') if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn parse_args(src: &str) -> Result<Vec<Arg>> {
    let chars: Vec<char> = src.chars().collect();
    let (args, used) = parse_seq(&chars, 0, src)?;
    if used != chars.len() {
        bail!("template: unexpected \")\" in {src:?}");
    }
    Ok(args)
}

fn parse_seq(c: &[char], mut i: usize, src: &str) -> Result<(Vec<Arg>, usize)> {
    let mut args = Vec::new();
    while i < c.len() {
        match c[i] {
            ' ' | '\t' | '\n' => i += 1,
            ')' => return Ok((args, i)),
            '(' => {
                let (inner, end) = parse_seq(c, i + 1, src)?;
                if c.get(end) != Some(&')') {
                    bail!("template: unclosed \"(\" in {src:?}");
                }
                i = end + 1;
                let group = Arg::Group(inner);
                if c.get(i) == Some(&'.') {
                    let start = i + 1;
                    while i < c.len() && !matches!(c[i], ' ' | '\t' | '\n' | '(' | ')') {
                        i += 1;
                    }
                    let path: String = c[start..i].iter().collect();
                    args.push(Arg::Fields(
                        Box::new(group),
                        path.split('.').map(str::to_string).collect(),
                    ));
                } else {
                    args.push(group);
                }
            }
            '|' => bail!("template: pipelines with | are not supported: {src:?}"),
            '"' => {
                let mut s = String::new();
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' && i + 1 < c.len() {
                        i += 1;
                        s.push(match c[i] {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    } else {
                        s.push(c[i]);
                    }
                    i += 1;
                }
                if i >= c.len() {
                    bail!("template: unterminated string in {src:?}");
                }
                args.push(Arg::Str(s));
                i += 1;
            }
            '`' => {
                let end = c[i + 1..]
                    .iter()
                    .position(|&x| x == '`')
                    .ok_or_else(|| anyhow::anyhow!("template: unterminated string in {src:?}"))?;
                args.push(Arg::Str(c[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            _ => {
                let start = i;
                while i < c.len() && !matches!(c[i], ' ' | '\t' | '\n' | '(' | ')') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                args.push(word_arg(&word, src)?);
            }
        }
    }
    Ok((args, i))
}

fn word_arg(word: &str, src: &str) -> Result<Arg> {
    if word == "." || word == "$" {
        return Ok(Arg::Field(vec![]));
    }
    if let Some(path) = word.strip_prefix('.').or_else(|| word.strip_prefix("$.")) {
        return Ok(Arg::Field(path.split('.').map(str::to_string).collect()));
    }
    match word {
        "true" => return Ok(Arg::Bool(true)),
        "false" => return Ok(Arg::Bool(false)),
        _ => {}
    }
    if let Ok(n) = word.parse::<f64>() {
        return Ok(Arg::Num(n));
    }
    if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(Arg::Func(word.to_string()));
    }
    bail!("template: bad word {word:?} in {src:?}")
}

impl Template {
    /// Parses `src`.
    pub fn parse(src: &str) -> Result<Self> {
        let tokens = tokenize(src)?;
        let mut pos = 0;
        let (nodes, end) = parse_nodes(&tokens, &mut pos)?;
        if let Some(end) = end {
            bail!("template: unexpected {{{{{end}}}}}");
        }
        Ok(Template {
            nodes,
            strict: false,
        })
    }

    /// Parses `src` for values that stand for Go structs: a field they lack is an error.
    pub fn parse_strict(src: &str) -> Result<Self> {
        Ok(Template {
            strict: true,
            ..Template::parse(src)?
        })
    }

    /// Renders the template with `dot` as `.`.
    pub fn render(&self, dot: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, dot, self.strict, &mut out)?;
        Ok(out)
    }
}

/// Parses nodes up to an `{{else}}` or `{{end}}`, which it returns.
fn parse_nodes(tokens: &[Token], pos: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while *pos < tokens.len() {
        let token = &tokens[*pos];
        *pos += 1;
        match token {
            Token::Text(t) => nodes.push(Node::Text(t.clone())),
            Token::Action(a) if a == "end" || a == "else" => return Ok((nodes, Some(a.clone()))),
            Token::Action(a) if a.starts_with("/*") => {}
            Token::Action(a) => {
                let keyword = a.split_whitespace().next().unwrap_or_default();
                match keyword {
                    "if" | "range" => {
                        let args = parse_args(a[keyword.len()..].trim())?;
                        let (body, end) = parse_nodes(tokens, pos)?;
                        let otherwise = match end.as_deref() {
                            Some("else") => match parse_nodes(tokens, pos)? {
                                (nodes, Some(e)) if e == "end" => nodes,
                                _ => bail!("template: missing {{{{end}}}} after {{{{else}}}}"),
                            },
                            Some("end") => vec![],
                            _ => bail!("template: missing {{{{end}}}} for {{{{{a}}}}}"),
                        };
                        nodes.push(if keyword == "if" {
                            Node::If {
                                cond: args,
                                then: body,
                                otherwise,
                            }
                        } else {
                            Node::Range {
                                over: args,
                                body,
                                otherwise,
                            }
                        });
                    }
                    "with" | "define" | "template" | "block" => {
                        bail!("template: {{{{{keyword}}}}} is not supported")
                    }
                    _ => nodes.push(Node::Action(parse_args(a)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn render_nodes(nodes: &[Node], dot: &Value, strict: bool, out: &mut String) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(args) => out.push_str(&display(&eval(args, dot, strict)?)),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if truthy(&eval(cond, dot, strict)?) {
                    then
                } else {
                    otherwise
                };
                render_nodes(branch, dot, strict, out)?;
            }
            Node::Range {
                over,
                body,
                otherwise,
            } => {
                let items: Vec<Value> = match eval(over, dot, strict)? {
                    Value::Array(a) => a,
                    Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => vec![],
                    other => bail!("template: range can't iterate over {}", display(&other)),
                };
                if items.is_empty() {
                    render_nodes(otherwise, dot, strict, out)?;
                }
                for item in &items {
                    render_nodes(body, item, strict, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval(args: &[Arg], dot: &Value, strict: bool) -> Result<Value> {
    let Some((first, rest)) = args.split_first() else {
        bail!("template: empty action");
    };
    match first {
        Arg::Func(name) => call(name, rest, dot, strict),
        _ if rest.is_empty() => eval_arg(first, dot, strict),
        _ => bail!("template: can't give arguments to a non-function"),
    }
}

fn eval_arg(arg: &Arg, dot: &Value, strict: bool) -> Result<Value> {
    Ok(match arg {
        Arg::Fields(base, path) => {
            let base = eval_arg(base, dot, strict)?;
            return eval_arg(&Arg::Field(path.clone()), &base, strict);
        }
        Arg::Field(path) => {
            let mut v = dot;
            for key in path {
                v = match v {
                    Value::Object(m) => match m.get(key) {
                        Some(x) => x,
                        None if strict => bail!(
                            "template: :1: executing \"\" at <.{}>: can't evaluate field {key}",
                            path.join(".")
                        ),
                        None => return Ok(Value::Null),
                    },
                    Value::Null => return Ok(Value::Null),
                    _ => bail!("template: can't evaluate field {key} in a {}", kind(v)),
                };
            }
            v.clone()
        }
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Num(n) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Func(name) => call(name, &[], dot, strict)?,
        Arg::Group(inner) => eval(inner, dot, strict)?,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
        Value::Null => "nil",
    }
}

fn call(name: &str, args: &[Arg], dot: &Value, strict: bool) -> Result<Value> {
    let vals = args
        .iter()
        .map(|a| eval_arg(a, dot, strict))
        .collect::<Result<Vec<_>>>()?;
    let want = |n: usize| -> Result<()> {
        if vals.len() != n {
            bail!(
                "template: wrong number of args for {name}: want {n} got {}",
                vals.len()
            );
        }
        Ok(())
    };
    Ok(match name {
        "json" => {
            want(1)?;
            Value::String(serde_json::to_string(&vals[0])?)
        }
        "len" => {
            want(1)?;
            let n = match &vals[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.len(),
                Value::Null => 0,
                other => bail!("template: len of {}", kind(other)),
            };
            Value::from(n)
        }
        "index" => {
            if vals.is_empty() {
                bail!("template: index needs arguments");
            }
            let mut v = vals[0].clone();
            for key in &vals[1..] {
                v = match (&v, key) {
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => n
                        .as_f64()
                        .and_then(|i| a.get(i as usize).cloned())
                        .ok_or_else(|| anyhow::anyhow!("template: index out of range"))?,
                    (Value::Null, _) => Value::Null,
                    _ => bail!("template: can't index {} with {}", kind(&v), display(key)),
                };
            }
            v
        }
        "join" => {
            want(2)?;
            let sep = display(&vals[1]);
            match &vals[0] {
                Value::Array(a) => {
                    Value::String(a.iter().map(display).collect::<Vec<_>>().join(&sep))
                }
                Value::Null => Value::String(String::new()),
                other => Value::String(display(other)),
            }
        }
        "upper" => {
            want(1)?;
            Value::String(display(&vals[0]).to_uppercase())
        }
        "lower" => {
            want(1)?;
            Value::String(display(&vals[0]).to_lowercase())
        }
        "title" => {
            want(1)?;
            let s = display(&vals[0]);
            let mut c = s.chars();
            Value::String(match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => s,
            })
        }
        "split" => {
            want(2)?;
            Value::Array(
                display(&vals[0])
                    .split(&display(&vals[1]))
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )
        }
        "println" => Value::String(vals.iter().map(display).collect::<Vec<_>>().join(" ") + "\n"),
        "print" => Value::String(vals.iter().map(display).collect::<String>()),
        "printf" => {
            let Some((fmt, rest)) = vals.split_first() else {
                bail!("template: printf needs a format");
            };
            Value::String(printf(&display(fmt), rest))
        }
        "not" => {
            want(1)?;
            Value::Bool(!truthy(&vals[0]))
        }
        "eq" | "ne" => {
            want(2)?;
            let same = vals[0] == vals[1] || display(&vals[0]) == display(&vals[1]);
            Value::Bool(same == (name == "eq"))
        }
        "and" => vals
            .iter()
            .find(|v| !truthy(v))
            .or(vals.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => vals
            .iter()
            .find(|v| truthy(v))
            .or(vals.last())
            .cloned()
            .unwrap_or(Value::Null),
        other => bail!("template: function {other:?} not defined"),
    })
}

fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&format!(
                "{:?}",
                args.next().map(display).unwrap_or_default()
            )),
            Some(_) => out.push_str(&args.next().map(display).unwrap_or_default()),
            None => out.push('%'),
        }
    }
    out
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// A value as Go's fmt prints it.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(display).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", display(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Prints `rows` through a listing's `--format`: `table TEMPLATE` gives aligned columns
/// (split at tabs) under a header row rendered from `header` (field -> column title); a bare
/// `table` is `default`; any other template is one line a row. Templates write `\t` for a tab.
pub fn print_listing(
    out: &mut dyn std::io::Write,
    format: &str,
    default: &str,
    header: &Value,
    rows: &[Value],
) -> Result<()> {
    let format = if format == "table" { default } else { format };
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, format),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let template = Template::parse_strict(&body)?;
    if !table {
        for row in rows {
            writeln!(out, "{}", template.render(row)?)?;
        }
        return Ok(());
    }
    let split = |line: String| line.split('\t').map(str::to_string).collect::<Vec<_>>();
    let mut cells = vec![split(template.render(header)?)];
    for row in rows {
        cells.push(split(template.render(row)?));
    }
    write_table(out, &cells)?;
    Ok(())
}

/// A listing row: every field by name, as strings.
pub fn row(fields: &[(&str, &str)], get: &dyn Fn(&str) -> Option<String>) -> Value {
    Value::Object(
        fields
            .iter()
            .filter_map(|(f, _)| get(f).map(|v| (f.to_string(), Value::String(v))))
            .collect(),
    )
}

/// Columns padded to the widest cell plus three spaces, as Docker's tabwriter does.
pub fn write_table(
    out: &mut (impl std::io::Write + ?Sized),
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn docker_style_formats() {
        let v = json!({
            "Id": "sha256:abc",
            "State": {"Running": true, "Pid": 42, "ExitCode": 0},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v"}},
            "RootFS": {"Layers": ["sha256:1", "sha256:2"]},
            "NetworkSettings": {"Ports": {"80/tcp": [{"HostPort": "8080"}]}}
        });
        assert_eq!(render("{{.Id}}", &v), "sha256:abc");
        assert_eq!(render("{{.State.Running}} {{.State.Pid}}", &v), "true 42");
        assert_eq!(
            render("{{json .RootFS.Layers}}", &v),
            r#"["sha256:1","sha256:2"]"#
        );
        assert_eq!(render("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(render("{{.Config.Labels}}", &v), "map[k:v]");
        assert_eq!(render("{{index .Config.Labels \"k\"}}", &v), "v");
        assert_eq!(
            render(
                "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
                &v
            ),
            "8080"
        );
        assert_eq!(render("{{len .RootFS.Layers}}", &v), "2");
        assert_eq!(render("{{range .Config.Env}}{{.}};{{end}}", &v), "A=1;B=2;");
        assert_eq!(render("{{join .Config.Env \",\"}}", &v), "A=1,B=2");
        assert_eq!(
            render("{{if .State.Running}}up{{else}}down{{end}}", &v),
            "up"
        );
        assert_eq!(render("{{.Nope}}", &v), "<no value>");
        assert_eq!(render("a {{- \" b \" -}} c", &v), "a b c");
        assert_eq!(
            render("{{printf \"%s:%d\" .Id .State.Pid}}", &v),
            "sha256:abc:42"
        );
    }

    #[test]
    fn bad_templates_are_errors() {
        assert!(Template::parse("{{.Id").is_err());
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        let t = Template::parse("{{nosuch .Id}}").unwrap();
        assert!(t.render(&json!({})).is_err());
    }
}
