//! The two template languages of ApplicationSets: fasttemplate (the default) and Go templates
//! (`goTemplate: true`), applied to every string of a template.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use gtmpl::{Context, Template};
use gtmpl_value::{FuncError, Value as GValue};
use regex::Regex;
use serde_json::{Map, Value};

/// One generator's parameter set. Fasttemplate parameters are flat strings; Go template
/// parameters keep their structure.
pub(crate) type Params = Map<String, Value>;

/// How strings are rendered for one ApplicationSet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    pub go: bool,
    /// `goTemplateOptions: ["missingkey=error"]`.
    pub missing_key_error: bool,
}

/// Renders one string with `params`.
pub(crate) fn render_str(text: &str, params: &Params, mode: Mode) -> Result<String, String> {
    if mode.go {
        render_go(text, params, mode.missing_key_error)
    } else {
        render_fast(text, params)
    }
}

/// Renders every string of `value`, map keys included.
// Argo CD docs, "Templates" (operator-manual/applicationset/Template.md): generator parameters
// are substituted into the template's fields; Argo CD walks the whole Application, keys of
// maps (labels, annotations) included, and leaves non-string values alone.
pub(crate) fn render_value(value: &Value, params: &Params, mode: Mode) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(render_str(s, params, mode)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, params, mode))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(render_str(k, params, mode)?, render_value(v, params, mode)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn templated_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // As Argo CD's own check: `.` does not cross a newline, so `{{` and `}}` must share a line.
    RE.get_or_init(|| Regex::new(r".*\{\{.*\}\}.*").expect("valid regex"))
}

/// fasttemplate: `{{name}}` or `{{ name }}` replaced by the string parameter `name`.
// Argo CD docs, "Templates" (Template.md) and "Go Template" (GoTemplate.md, "Motivation"):
// fasttemplate substitutes string parameters only; a tag naming no parameter is left in place
// as written (the doc's motivation for Go templates is that fasttemplate cannot fail on it).
fn render_fast(text: &str, params: &Params) -> Result<String, String> {
    if !templated_re().is_match(text) {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "invalid template {text:?}: `{{{{` without a closing `}}}}`"
            ));
        };
        let tag = &after[..end];
        let trimmed = tag.trim();
        match params.get(trimmed) {
            Some(Value::String(s)) if !trimmed.is_empty() => out.push_str(s),
            _ => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

// Argo CD docs, "Go Template" (GoTemplate.md): with goTemplate the template is Go's
// text/template with the Sprig functions (except env, expandenv and getHostByName); the
// options in goTemplateOptions are passed to it, and `missingkey=error` makes a reference to a
// missing parameter an error instead of `<no value>`.
fn render_go(text: &str, params: &Params, missing_key_error: bool) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    check_actions_closed(text).map_err(|e| format!("failed to parse template {text:?}: {e}"))?;
    let mut tpl = Template::default();
    tpl.add_funcs(FUNCS);
    tpl.parse(text)
        .map_err(|e| format!("failed to parse template {text:?}: {e}"))?;
    let ctx = Context::from(to_gvalue(&Value::Object(params.clone())));
    MISSING_KEY_ERROR.with(|m| m.set(missing_key_error));
    let out = tpl.render(&ctx);
    MISSING_KEY_ERROR.with(|m| m.set(false));
    let out = out.map_err(|e| format!("failed to execute go template {text:?}: {e}"))?;
    // gtmpl has no missingkey option: it always renders a missing key as `<no value>`, so its
    // appearance (where the template did not write it) is the missing key Go would reject.
    if missing_key_error && out.contains("<no value>") && !text.contains("<no value>") {
        return Err(format!("failed to execute go template {text:?}: {MISSING}"));
    }
    Ok(out)
}

/// Refuses an action left open at the end of the text, which Go reports as an error but on
/// which gtmpl's lexer never returns (seen with gtmpl 0.7.1 on `{{ "s" `).
fn check_actions_closed(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(start) = text[i..].find("{{") {
        i += start + 2;
        if text[i..].trim_start_matches(['-', ' ']).starts_with("/*") {
            let close = text[i..].find("*/").ok_or("unclosed comment")?;
            i += close + 2;
        }
        loop {
            match b.get(i) {
                None => return Err("unclosed action".into()),
                Some(b'}') if b.get(i + 1) == Some(&b'}') => {
                    i += 2;
                    break;
                }
                Some(&q @ (b'"' | b'\'' | b'`')) => {
                    i += 1;
                    loop {
                        match b.get(i) {
                            None => return Err("unterminated quoted string".into()),
                            Some(b'\\') if q != b'`' => i += 2,
                            Some(&c) if c == q => {
                                i += 1;
                                break;
                            }
                            Some(_) => i += 1,
                        }
                    }
                }
                Some(_) => i += 1,
            }
        }
    }
    Ok(())
}

pub(crate) fn to_gvalue(v: &Value) -> GValue {
    match v {
        Value::Null => GValue::Nil,
        Value::Bool(b) => GValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                GValue::from(i)
            } else if let Some(u) = n.as_u64() {
                GValue::from(u)
            } else {
                GValue::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => GValue::String(s.clone()),
        Value::Array(a) => GValue::Array(a.iter().map(to_gvalue).collect()),
        Value::Object(o) => GValue::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gvalue(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn from_gvalue(v: &GValue) -> Value {
    match v {
        GValue::NoValue | GValue::Nil | GValue::Function(_) => Value::Null,
        GValue::Bool(b) => Value::Bool(*b),
        GValue::String(s) => Value::String(s.clone()),
        GValue::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0))
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        GValue::Array(a) => Value::Array(a.iter().map(from_gvalue).collect()),
        GValue::Map(m) | GValue::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), from_gvalue(&m[k])))
                    .collect(),
            )
        }
    }
}

/// The Sprig functions this emulation offers, with Sprig's argument order (the piped value last).
pub const GO_TEMPLATE_FUNCTIONS: &[&str] = &[
    "default",
    "empty",
    "coalesce",
    "ternary",
    "required",
    "lower",
    "upper",
    "title",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "trunc",
    "replace",
    "quote",
    "squote",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "toString",
    "toJson",
    "toPrettyJson",
    "splitList",
    "join",
    "list",
    "dict",
    "b64enc",
    "b64dec",
    "nospace",
    "repeat",
    "substr",
    "indent",
    "nindent",
    "kebabcase",
    "snakecase",
];

// Go with missingkey=error fails on the lookup itself, before a function such as `default`
// sees the missing value; gtmpl passes the function `NoValue` instead, so each function checks.
macro_rules! guarded {
    ($($name:literal => $f:ident),* $(,)?) => {
        const FUNCS: &[(&str, gtmpl_value::Func)] = &[$(($name, {
            fn guarded(a: &[GValue]) -> Result<GValue, FuncError> {
                check_missing(a)?;
                $f(a)
            }
            guarded
        })),*];
    };
}

guarded! {
    "default" => f_default,
    "empty" => f_empty,
    "coalesce" => f_coalesce,
    "ternary" => f_ternary,
    "required" => f_required,
    "lower" => f_lower,
    "upper" => f_upper,
    "title" => f_title,
    "trim" => f_trim,
    "trimAll" => f_trim_all,
    "trimPrefix" => f_trim_prefix,
    "trimSuffix" => f_trim_suffix,
    "trunc" => f_trunc,
    "replace" => f_replace,
    "quote" => f_quote,
    "squote" => f_squote,
    "contains" => f_contains,
    "hasPrefix" => f_has_prefix,
    "hasSuffix" => f_has_suffix,
    "toString" => f_to_string,
    "toJson" => f_to_json,
    "toPrettyJson" => f_to_pretty_json,
    "splitList" => f_split_list,
    "join" => f_join,
    "list" => f_list,
    "dict" => f_dict,
    "b64enc" => f_b64enc,
    "b64dec" => f_b64dec,
    "nospace" => f_nospace,
    "repeat" => f_repeat,
    "substr" => f_substr,
    "indent" => f_indent,
    "nindent" => f_nindent,
    "kebabcase" => f_kebabcase,
    "snakecase" => f_snakecase,
}

thread_local! {
    static MISSING_KEY_ERROR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

const MISSING: &str = "map has no entry for a key it references (missingkey=error)";

fn check_missing(a: &[GValue]) -> Result<(), FuncError> {
    if MISSING_KEY_ERROR.with(|m| m.get()) && a.iter().any(|v| matches!(v, GValue::NoValue)) {
        return Err(FuncError::Generic(MISSING.into()));
    }
    Ok(())
}

fn arity(name: &str, args: &[GValue], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::ExactlyXArgs(name.to_string(), n));
    }
    Ok(())
}

/// Sprig's strval: how a value reads as a string.
fn sval(v: &GValue) -> String {
    match v {
        GValue::NoValue | GValue::Nil => String::new(),
        GValue::String(s) => s.clone(),
        GValue::Array(_) | GValue::Map(_) | GValue::Object(_) => {
            serde_json::to_string(&from_gvalue(v)).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

fn ival(name: &str, v: &GValue) -> Result<i64, FuncError> {
    match v {
        GValue::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| FuncError::Generic(format!("{name}: not an integer"))),
        GValue::String(s) => s
            .trim()
            .parse()
            .map_err(|_| FuncError::Generic(format!("{name}: {s:?} is not an integer"))),
        _ => Err(FuncError::Generic(format!("{name}: not an integer"))),
    }
}

/// Sprig's empty: the zero value of its type.
fn is_empty(v: &GValue) -> bool {
    match v {
        GValue::NoValue | GValue::Nil | GValue::Function(_) => true,
        GValue::Bool(b) => !b,
        GValue::String(s) => s.is_empty(),
        GValue::Array(a) => a.is_empty(),
        GValue::Map(m) | GValue::Object(m) => m.is_empty(),
        GValue::Number(n) => n.as_f64() == Some(0.0),
    }
}

fn s(v: String) -> Result<GValue, FuncError> {
    Ok(GValue::String(v))
}

fn f_default(a: &[GValue]) -> Result<GValue, FuncError> {
    match a {
        [def] => Ok(def.clone()),
        [def, given] => Ok(if is_empty(given) { def } else { given }.clone()),
        _ => Err(FuncError::AtLeastXArgs("default".into(), 1)),
    }
}
fn f_empty(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("empty", a, 1)?;
    Ok(GValue::Bool(is_empty(&a[0])))
}
fn f_coalesce(a: &[GValue]) -> Result<GValue, FuncError> {
    Ok(a.iter()
        .find(|v| !is_empty(v))
        .cloned()
        .unwrap_or(GValue::Nil))
}
fn f_ternary(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("ternary", a, 3)?;
    Ok(if is_empty(&a[2]) { &a[1] } else { &a[0] }.clone())
}
fn f_required(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("required", a, 2)?;
    if matches!(a[1], GValue::NoValue | GValue::Nil)
        || matches!(&a[1], GValue::String(x) if x.is_empty())
    {
        return Err(FuncError::Generic(sval(&a[0])));
    }
    Ok(a[1].clone())
}
fn f_lower(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("lower", a, 1)?;
    s(sval(&a[0]).to_lowercase())
}
fn f_upper(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("upper", a, 1)?;
    s(sval(&a[0]).to_uppercase())
}
fn f_title(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("title", a, 1)?;
    let mut out = String::new();
    let mut start = true;
    for c in sval(&a[0]).chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    s(out)
}
fn f_trim(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("trim", a, 1)?;
    s(sval(&a[0]).trim().to_string())
}
fn f_trim_all(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("trimAll", a, 2)?;
    let cut = sval(&a[0]);
    s(sval(&a[1]).trim_matches(|c| cut.contains(c)).to_string())
}
fn f_trim_prefix(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("trimPrefix", a, 2)?;
    let (p, v) = (sval(&a[0]), sval(&a[1]));
    s(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
}
fn f_trim_suffix(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("trimSuffix", a, 2)?;
    let (p, v) = (sval(&a[0]), sval(&a[1]));
    s(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
}
// Sprig's trunc counts bytes; a negative length keeps the end.
fn f_trunc(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("trunc", a, 2)?;
    let n = ival("trunc", &a[0])?;
    let v = sval(&a[1]);
    let len = v.len() as i64;
    let cut = |i: i64| {
        let mut i = i.clamp(0, len) as usize;
        while !v.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    s(if n < 0 {
        v[cut(len + n)..].to_string()
    } else {
        v[..cut(n)].to_string()
    })
}
fn f_replace(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("replace", a, 3)?;
    s(sval(&a[2]).replace(&sval(&a[0]), &sval(&a[1])))
}
fn f_quote(a: &[GValue]) -> Result<GValue, FuncError> {
    s(a.iter()
        .filter(|v| !matches!(v, GValue::Nil | GValue::NoValue))
        .map(|v| serde_json::to_string(&sval(v)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" "))
}
fn f_squote(a: &[GValue]) -> Result<GValue, FuncError> {
    s(a.iter()
        .filter(|v| !matches!(v, GValue::Nil | GValue::NoValue))
        .map(|v| format!("'{}'", sval(v)))
        .collect::<Vec<_>>()
        .join(" "))
}
fn f_contains(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("contains", a, 2)?;
    Ok(GValue::Bool(sval(&a[1]).contains(&sval(&a[0]))))
}
fn f_has_prefix(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("hasPrefix", a, 2)?;
    Ok(GValue::Bool(sval(&a[1]).starts_with(&sval(&a[0]))))
}
fn f_has_suffix(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("hasSuffix", a, 2)?;
    Ok(GValue::Bool(sval(&a[1]).ends_with(&sval(&a[0]))))
}
fn f_to_string(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("toString", a, 1)?;
    s(sval(&a[0]))
}
fn f_to_json(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("toJson", a, 1)?;
    s(serde_json::to_string(&from_gvalue(&a[0])).unwrap_or_default())
}
fn f_to_pretty_json(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("toPrettyJson", a, 1)?;
    s(serde_json::to_string_pretty(&from_gvalue(&a[0])).unwrap_or_default())
}
fn f_split_list(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("splitList", a, 2)?;
    let sep = sval(&a[0]);
    Ok(GValue::Array(
        sval(&a[1])
            .split(sep.as_str())
            .map(|p| GValue::String(p.to_string()))
            .collect(),
    ))
}
fn f_join(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("join", a, 2)?;
    let sep = sval(&a[0]);
    match &a[1] {
        GValue::Array(items) => s(items.iter().map(sval).collect::<Vec<_>>().join(&sep)),
        other => s(sval(other)),
    }
}
fn f_list(a: &[GValue]) -> Result<GValue, FuncError> {
    Ok(GValue::Array(a.to_vec()))
}
fn f_dict(a: &[GValue]) -> Result<GValue, FuncError> {
    let mut m = HashMap::new();
    for pair in a.chunks(2) {
        m.insert(
            sval(&pair[0]),
            pair.get(1)
                .cloned()
                .unwrap_or(GValue::String(String::new())),
        );
    }
    Ok(GValue::Map(m))
}
fn f_b64enc(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("b64enc", a, 1)?;
    s(base64::engine::general_purpose::STANDARD.encode(sval(&a[0])))
}
fn f_b64dec(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("b64dec", a, 1)?;
    // Sprig returns the error text in place of the value.
    s(
        match base64::engine::general_purpose::STANDARD.decode(sval(&a[0])) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => e.to_string(),
        },
    )
}
fn f_nospace(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("nospace", a, 1)?;
    s(sval(&a[0]).chars().filter(|c| !c.is_whitespace()).collect())
}
fn f_repeat(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("repeat", a, 2)?;
    s(sval(&a[1]).repeat(ival("repeat", &a[0])?.max(0) as usize))
}
fn f_substr(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("substr", a, 3)?;
    let v = sval(&a[2]);
    let (start, end) = (ival("substr", &a[0])?, ival("substr", &a[1])?);
    let len = v.len() as i64;
    let start = if start < 0 { 0 } else { start.min(len) } as usize;
    let end = if end < 0 || end > len { len } else { end } as usize;
    s(v.get(start..end.max(start)).unwrap_or_default().to_string())
}
fn indent_by(n: i64, v: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", v.replace('\n', &format!("\n{pad}")))
}
fn f_indent(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("indent", a, 2)?;
    s(indent_by(ival("indent", &a[0])?, &sval(&a[1])))
}
fn f_nindent(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("nindent", a, 2)?;
    s(format!(
        "\n{}",
        indent_by(ival("nindent", &a[0])?, &sval(&a[1]))
    ))
}
fn words_joined(v: &str, sep: char) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in v.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower {
                out.push(sep);
            }
            out.extend(c.to_lowercase());
            prev_lower = c.is_lowercase() || c.is_numeric();
        } else {
            if !out.is_empty() && !out.ends_with(sep) {
                out.push(sep);
            }
            prev_lower = false;
        }
    }
    out.trim_end_matches(sep).to_string()
}
fn f_kebabcase(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("kebabcase", a, 1)?;
    s(words_joined(&sval(&a[0]), '-'))
}
fn f_snakecase(a: &[GValue]) -> Result<GValue, FuncError> {
    arity("snakecase", a, 1)?;
    s(words_joined(&sval(&a[0]), '_'))
}
