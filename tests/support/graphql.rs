//! Just enough GraphQL for the fake GitHub: a parser for executable documents and a projection of
//! resolved objects onto a selection set, with errors worded the way GitHub's API words them.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

#[derive(Debug)]
pub struct Operation {
    pub kind: OperationKind,
    pub name: Option<String>,
    pub variables: Vec<VariableDefinition>,
    pub selection: Vec<Selection>,
}

#[derive(Debug)]
pub struct VariableDefinition {
    pub name: String,
    pub default: Option<Literal>,
}

#[derive(Debug)]
pub enum Selection {
    Field(Field),
    InlineFragment {
        on: Option<String>,
        selection: Vec<Selection>,
    },
}

#[derive(Debug)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    pub arguments: Vec<(String, Literal)>,
    pub selection: Vec<Selection>,
    pub line: usize,
    pub column: usize,
}

impl Field {
    /// The key this field's value has in the response.
    pub fn response_key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    pub fn argument(&self, name: &str) -> Option<&Literal> {
        self.arguments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn location(&self) -> Value {
        serde_json::json!([{ "line": self.line, "column": self.column }])
    }
}

/// A value as written in the document; enums stay distinct from strings because GraphQL rejects
/// `classifier: "OUTDATED"` where it accepts `classifier: OUTDATED`.
#[derive(Debug, Clone)]
pub enum Literal {
    Variable(String),
    Int(i64),
    Float(f64),
    String(String),
    Boolean(bool),
    Null,
    Enum(String),
    List(Vec<Literal>),
    Object(Vec<(String, Literal)>),
}

impl Literal {
    /// The JSON value after substituting variables; `Err` names a variable the request lacks.
    pub fn resolve(&self, variables: &Map<String, Value>) -> Result<Value, String> {
        Ok(match self {
            Literal::Variable(name) => variables.get(name).cloned().unwrap_or(Value::Null),
            Literal::Int(i) => Value::from(*i),
            Literal::Float(f) => Value::from(*f),
            Literal::String(s) | Literal::Enum(s) => Value::String(s.clone()),
            Literal::Boolean(b) => Value::Bool(*b),
            Literal::Null => Value::Null,
            Literal::List(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.resolve(variables))
                    .collect::<Result<_, _>>()?,
            ),
            Literal::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.resolve(variables)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }

    pub fn field(&self, name: &str) -> Option<&Literal> {
        match self {
            Literal::Object(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The variables this value refers to, to check they were all declared.
    fn variables<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Literal::Variable(name) => out.push(name),
            Literal::List(items) => items.iter().for_each(|i| i.variables(out)),
            Literal::Object(fields) => fields.iter().for_each(|(_, v)| v.variables(out)),
            _ => {}
        }
    }

    pub fn as_written(&self) -> String {
        match self {
            Literal::Variable(name) => format!("${name}"),
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) => f.to_string(),
            Literal::String(s) => Value::String(s.clone()).to_string(),
            Literal::Boolean(b) => b.to_string(),
            Literal::Null => "null".to_owned(),
            Literal::Enum(e) => e.clone(),
            Literal::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Literal::as_written)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Literal::Object(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_written()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Parse a document and check that every variable used is declared by its operation. Fragment
/// definitions (`fragment X on Y`) are refused: the product has no reason to send them.
pub fn parse(document: &str) -> Result<Vec<Operation>, String> {
    let tokens = tokenize(document)?;
    let mut parser = Parser { tokens, at: 0 };
    let mut operations = Vec::new();
    while parser.peek().is_some() {
        operations.push(parser.operation()?);
    }
    if operations.is_empty() {
        return Err("the document has no operation".to_owned());
    }
    for op in &operations {
        let mut used = Vec::new();
        collect_variables(&op.selection, &mut used);
        for name in used {
            if !op.variables.iter().any(|v| v.name == name) {
                return Err(format!(
                    "Variable ${name} is used by {} but not declared",
                    op.name.as_deref().unwrap_or("anonymous operation")
                ));
            }
        }
    }
    Ok(operations)
}

fn collect_variables<'a>(selection: &'a [Selection], out: &mut Vec<&'a str>) {
    for s in selection {
        match s {
            Selection::Field(f) => {
                f.arguments.iter().for_each(|(_, v)| v.variables(out));
                collect_variables(&f.selection, out);
            }
            Selection::InlineFragment { selection, .. } => collect_variables(selection, out),
        }
    }
}

/// Project a resolved object onto a selection set. Objects carry their GraphQL type in
/// `__typename` and the interfaces they implement in `__implements`, so `... on Minimizable`
/// and unknown-field errors work without a schema. Errors are GitHub-shaped error objects.
pub fn project(selection: &[Selection], object: &Value, path: &[Value]) -> Result<Value, Value> {
    let type_name = object
        .get("__typename")
        .and_then(Value::as_str)
        .unwrap_or("Object");
    let implements = |t: &str| {
        t == type_name
            || object
                .get("__implements")
                .and_then(Value::as_array)
                .is_some_and(|i| i.iter().any(|x| x == t))
    };
    let mut out = Map::new();
    for s in selection {
        match s {
            Selection::InlineFragment { on, selection } => {
                if on.as_deref().is_none_or(implements)
                    && let Value::Object(inner) = project(selection, object, path)?
                {
                    out.extend(inner);
                }
            }
            Selection::Field(field) => {
                let mut field_path = path.to_vec();
                field_path.push(Value::from(field.response_key()));
                if field.name == "__typename" {
                    out.insert(field.response_key().to_owned(), Value::from(type_name));
                    continue;
                }
                let Some(value) = object
                    .get(&field.name)
                    .filter(|_| !field.name.starts_with("__"))
                else {
                    return Err(serde_json::json!({
                        "path": field_path,
                        "extensions": {
                            "code": "undefinedField",
                            "typeName": type_name,
                            "fieldName": field.name,
                        },
                        "locations": field.location(),
                        "message": format!("Field '{}' doesn't exist on type '{type_name}'", field.name),
                    }));
                };
                let projected = project_value(field, value, &field_path)?;
                out.insert(field.response_key().to_owned(), projected);
            }
        }
    }
    Ok(Value::Object(out))
}

fn project_value(field: &Field, value: &Value, path: &[Value]) -> Result<Value, Value> {
    let is_object = |v: &Value| v.get("__typename").is_some();
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut item_path = path.to_vec();
                item_path.push(Value::from(i));
                project_value(field, item, &item_path)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        v if is_object(v) => {
            if field.selection.is_empty() {
                let type_name = v["__typename"].as_str().unwrap_or("Object");
                return Err(serde_json::json!({
                    "path": path,
                    "extensions": { "code": "selectionMismatch", "nodeName": format!("field '{}'", field.name), "typeName": type_name },
                    "locations": field.location(),
                    "message": format!("Field must have selections (field '{}' returns {type_name} but has no selections. Did you mean '{} {{ ... }}'?)", field.name, field.name),
                }));
            }
            project(&field.selection, v, path)
        }
        scalar => {
            if !field.selection.is_empty() && !scalar.is_null() {
                return Err(serde_json::json!({
                    "path": path,
                    "extensions": { "code": "selectionMismatch", "nodeName": format!("field '{}'", field.name) },
                    "locations": field.location(),
                    "message": format!("Selections can't be made on scalars (field '{}' returns a scalar but has selections [{}])", field.name, field.selection.len()),
                }));
            }
            Ok(scalar.clone())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Punct(char),
    Spread,
    Name(String),
    Int(String),
    Float(String),
    Str(String),
}

struct Positioned {
    token: Token,
    line: usize,
    column: usize,
}

fn tokenize(source: &str) -> Result<Vec<Positioned>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut line_start) = (0usize, 1usize, 0usize);
    while i < chars.len() {
        let c = chars[i];
        let column = i - line_start + 1;
        let start_line = line;
        match c {
            '\n' => {
                line += 1;
                line_start = i + 1;
                i += 1;
                continue;
            }
            // Commas are insignificant in GraphQL, like whitespace.
            ' ' | '\t' | '\r' | ',' | '\u{feff}' => {
                i += 1;
                continue;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '{' | '}' | '(' | ')' | ':' | '$' | '!' | '[' | ']' | '=' | '@' | '|' | '&' => {
                tokens.push(Positioned {
                    token: Token::Punct(c),
                    line,
                    column,
                });
                i += 1;
            }
            '.' => {
                if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                    tokens.push(Positioned {
                        token: Token::Spread,
                        line,
                        column,
                    });
                    i += 3;
                } else {
                    return Err(format!("Parse error on \".\" at [{line}, {column}]"));
                }
            }
            '"' => {
                let block = chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"');
                let mut text = String::new();
                if block {
                    i += 3;
                    loop {
                        if i >= chars.len() {
                            return Err(format!(
                                "Unterminated block string at [{start_line}, {column}]"
                            ));
                        }
                        if chars[i] == '"'
                            && chars.get(i + 1) == Some(&'"')
                            && chars.get(i + 2) == Some(&'"')
                        {
                            i += 3;
                            break;
                        }
                        if chars[i] == '\n' {
                            line += 1;
                            line_start = i + 1;
                        }
                        text.push(chars[i]);
                        i += 1;
                    }
                } else {
                    i += 1;
                    loop {
                        let Some(&ch) = chars.get(i) else {
                            return Err(format!("Unterminated string at [{start_line}, {column}]"));
                        };
                        i += 1;
                        match ch {
                            '"' => break,
                            '\n' => {
                                return Err(format!(
                                    "Unterminated string at [{start_line}, {column}]"
                                ));
                            }
                            '\\' => {
                                let escaped = chars.get(i).copied().unwrap_or('\\');
                                i += 1;
                                match escaped {
                                    'n' => text.push('\n'),
                                    't' => text.push('\t'),
                                    'r' => text.push('\r'),
                                    'b' => text.push('\u{8}'),
                                    'f' => text.push('\u{c}'),
                                    'u' => {
                                        let hex: String = chars.iter().skip(i).take(4).collect();
                                        let code = u32::from_str_radix(&hex, 16).map_err(|_| {
                                            format!("Bad unicode escape at [{line}, {column}]")
                                        })?;
                                        text.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                                        i += 4;
                                    }
                                    other => text.push(other),
                                }
                            }
                            other => text.push(other),
                        }
                    }
                }
                tokens.push(Positioned {
                    token: Token::Str(text),
                    line: start_line,
                    column,
                });
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                let mut float = false;
                while let Some(&d) = chars.get(i) {
                    if d.is_ascii_digit() {
                        i += 1;
                    } else if matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                        float = true;
                        i += 1;
                    } else {
                        break;
                    }
                }
                let text: String = chars[start..i].iter().collect();
                let token = if float {
                    Token::Float(text)
                } else {
                    Token::Int(text)
                };
                tokens.push(Positioned {
                    token,
                    line,
                    column,
                });
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|d| *d == '_' || d.is_ascii_alphanumeric())
                {
                    i += 1;
                }
                tokens.push(Positioned {
                    token: Token::Name(chars[start..i].iter().collect()),
                    line,
                    column,
                });
            }
            other => return Err(format!("Parse error on \"{other}\" at [{line}, {column}]")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Positioned>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|p| &p.token)
    }

    fn position(&self) -> (usize, usize) {
        self.tokens
            .get(self.at)
            .or(self.tokens.last())
            .map(|p| (p.line, p.column))
            .unwrap_or((1, 1))
    }

    fn error(&self, expected: &str) -> String {
        let (line, column) = self.position();
        match self.peek() {
            Some(t) => format!("Parse error on {t:?} at [{line}, {column}], expected {expected}"),
            None => format!("Parse error on end of document, expected {expected}"),
        }
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).map(|p| p.token.clone());
        self.at += 1;
        t
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("\"{c}\"")))
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Token::Name(n)) => {
                let n = n.clone();
                self.at += 1;
                Ok(n)
            }
            _ => Err(self.error("a name")),
        }
    }

    fn operation(&mut self) -> Result<Operation, String> {
        if self.peek() == Some(&Token::Punct('{')) {
            return Ok(Operation {
                kind: OperationKind::Query,
                name: None,
                variables: Vec::new(),
                selection: self.selection_set()?,
            });
        }
        let kind = match self.name()?.as_str() {
            "query" => OperationKind::Query,
            "mutation" => OperationKind::Mutation,
            "subscription" => OperationKind::Subscription,
            "fragment" => {
                return Err("fragment definitions are not supported by the fake".to_owned());
            }
            other => return Err(format!("Parse error on \"{other}\", expected an operation")),
        };
        let name = match self.peek() {
            Some(Token::Name(_)) => Some(self.name()?),
            _ => None,
        };
        let mut variables = Vec::new();
        if self.eat('(') {
            while !self.eat(')') {
                self.expect('$')?;
                let name = self.name()?;
                self.expect(':')?;
                self.type_reference()?;
                let default = if self.eat('=') {
                    Some(self.value(true)?)
                } else {
                    None
                };
                self.directives()?;
                variables.push(VariableDefinition { name, default });
            }
        }
        self.directives()?;
        Ok(Operation {
            kind,
            name,
            variables,
            selection: self.selection_set()?,
        })
    }

    fn type_reference(&mut self) -> Result<(), String> {
        if self.eat('[') {
            self.type_reference()?;
            self.expect(']')?;
        } else {
            self.name()?;
        }
        self.eat('!');
        Ok(())
    }

    fn directives(&mut self) -> Result<(), String> {
        while self.eat('@') {
            self.name()?;
            if self.peek() == Some(&Token::Punct('(')) {
                self.arguments()?;
            }
        }
        Ok(())
    }

    fn selection_set(&mut self) -> Result<Vec<Selection>, String> {
        self.expect('{')?;
        let mut selection = Vec::new();
        while !self.eat('}') {
            if self.peek().is_none() {
                return Err(self.error("\"}\""));
            }
            if self.peek() == Some(&Token::Spread) {
                self.at += 1;
                let on = match self.peek() {
                    Some(Token::Name(n)) if n == "on" => {
                        self.at += 1;
                        Some(self.name()?)
                    }
                    Some(Token::Name(_)) => {
                        return Err("fragment spreads are not supported by the fake".to_owned());
                    }
                    _ => None,
                };
                self.directives()?;
                selection.push(Selection::InlineFragment {
                    on,
                    selection: self.selection_set()?,
                });
                continue;
            }
            let (line, column) = self.position();
            let first = self.name()?;
            let (alias, name) = if self.eat(':') {
                (Some(first), self.name()?)
            } else {
                (None, first)
            };
            let arguments = if self.peek() == Some(&Token::Punct('(')) {
                self.arguments()?
            } else {
                Vec::new()
            };
            self.directives()?;
            let sub = if self.peek() == Some(&Token::Punct('{')) {
                self.selection_set()?
            } else {
                Vec::new()
            };
            selection.push(Selection::Field(Field {
                alias,
                name,
                arguments,
                selection: sub,
                line,
                column,
            }));
        }
        Ok(selection)
    }

    fn arguments(&mut self) -> Result<Vec<(String, Literal)>, String> {
        self.expect('(')?;
        let mut arguments = Vec::new();
        while !self.eat(')') {
            let name = self.name()?;
            self.expect(':')?;
            arguments.push((name, self.value(false)?));
        }
        Ok(arguments)
    }

    fn value(&mut self, constant: bool) -> Result<Literal, String> {
        let token = self.next().ok_or_else(|| self.error("a value"))?;
        Ok(match token {
            Token::Punct('$') if !constant => Literal::Variable(self.name()?),
            Token::Int(i) => Literal::Int(i.parse().map_err(|_| format!("bad integer {i}"))?),
            Token::Float(f) => Literal::Float(f.parse().map_err(|_| format!("bad float {f}"))?),
            Token::Str(s) => Literal::String(s),
            Token::Name(n) => match n.as_str() {
                "true" => Literal::Boolean(true),
                "false" => Literal::Boolean(false),
                "null" => Literal::Null,
                _ => Literal::Enum(n),
            },
            Token::Punct('[') => {
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value(constant)?);
                }
                Literal::List(items)
            }
            Token::Punct('{') => {
                let mut fields = Vec::new();
                while !self.eat('}') {
                    let name = self.name()?;
                    self.expect(':')?;
                    fields.push((name, self.value(constant)?));
                }
                Literal::Object(fields)
            }
            _ => {
                self.at -= 1;
                return Err(self.error("a value"));
            }
        })
    }
}
